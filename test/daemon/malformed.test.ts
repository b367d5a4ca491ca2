import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatsDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/peer.js';

interface MalformedVector {
  hex: string;
  how: string;
  expect: 'ok' | 'error';
}

const vectors = readFileSync(new URL('../fixtures/malformed.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as MalformedVector);

let daemon: StatsDaemon;
let dir: string;
let socketPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmm-stats-malformed-'));
  socketPath = join(dir, 'stat.sock');
  daemon = await startTestDaemon(socketPath, { intervalMs: 1000 });
});

afterAll(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Sends one damaged frame on its own connection, then half-closes: the daemon must answer it or close the
 * connection (a frame shorter than its header says is simply never complete), and must not crash.
 */
async function sendDamaged(bytes: Buffer): Promise<{ replies: number; ended: boolean }> {
  const peer = await RawPeer.connect(socketPath);
  peer.send(bytes);
  peer.socket.end();
  await peer.waitFor(() => undefined, 5000);
  const replies = peer.frames.filter((f) => f.message.kind === 'fail' || f.message.kind === 'success').length;
  return { replies, ended: peer.ended };
}

it(`answers or closes on each of the ${vectors.length} malformed frames, and still serves afterwards`, async () => {
  const outcomes = new Map<string, number>();
  for (let start = 0; start < vectors.length; start += 32) {
    const batch = vectors.slice(start, start + 32);
    const results = await Promise.all(batch.map((v) => sendDamaged(Buffer.from(v.hex, 'hex'))));
    results.forEach((result, i) => {
      expect(result.ended, `vector ${start + i} (${batch[i]!.how})`).toBe(true);
      const key = `${batch[i]!.expect}:${result.replies > 0 ? 'replied' : 'closed'}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    });
  }
  // Every frame the seed decodes is a whole frame, so it is answered.
  expect(outcomes.get('ok:closed') ?? 0).toBe(0);
  expect(outcomes.get('error:replied') ?? 0).toBeGreaterThan(1000);

  const peer = await RawPeer.connect(socketPath);
  peer.send({ kind: 'stats.subscribe', id: 7n, name: [] });
  expect(await peer.reply(7n)).toMatchObject({ kind: 'success', id: 7n });
  peer.close();
}, 120_000);
