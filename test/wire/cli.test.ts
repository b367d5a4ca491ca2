// `vmm-stats wire decode|encode`, run as the real CLI in a child process (src/cli.ts through tsx).

import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function vmmStats(args: string[], input: string | Buffer): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: repoRoot,
    input,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 << 20,
  });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function fixtureLines<T>(name: string): T[] {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

function outputLines(stdout: string): Record<string, unknown>[] {
  expect(stdout.endsWith('\n')).toBe(true);
  return stdout
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const valid = fixtureLines<{ kind: string; id?: string; hex: string; vm?: string }>('valid.jsonl');
const malformed = fixtureLines<{ hex: string; expect: 'ok' | 'error'; decoded?: Record<string, unknown> }>('malformed.jsonl');

describe('vmm-stats wire decode', () => {
  it('prints exactly what the seed oracle prints, byte for byte', () => {
    // Lines of `oracle decode` output, with the hex frames they came from.
    const pairs = [
      [
        '0000020100020000ffffffffffffffff0000001c00000000000000030006626172006f6f00045f5d2f200004305b766d',
        '{"ok":true,"kind":"stats.remove","header":{"tag":513,"version":2,"id":"18446744073709551615","length":28},"name":["bar\\u0000oo","_]/ ","0[vm"]}',
      ],
      [
        '000004010002000000000000000000000000001700000000000000030002c3a900035bc3a900040f203020',
        '{"ok":true,"kind":"vm.destroy","header":{"tag":1025,"version":2,"id":"0","length":23},"name":["é","[é","\\u000f 0 "]}',
      ],
      [
        '000003000002000000000000000000000000004d0000000000000002000ce697a5e69cac5b736f6c6f350003c3a92f00000000000033e50005060401c380740003001fffffffffffff0008e697a5e69cac2561000000000000000100042525202d',
        '{"ok":true,"kind":"log.log","header":{"tag":768,"version":2,"id":"0","length":77},"name":["日本[solo5","é/"],"ts":{"d":13285,"ps":"1413989162778740"},"event":{"type":"vm_start","pid":9007199254740991,"taps":["%% -"],"block":"日本%a"}}',
      ],
      [
        '0000040000020000800000000000000000000046000000000000000100043062617200000000000000000000000000002bea00000000000000000000000000000000000100000000000000062285118f56750000000000000000',
        '{"ok":true,"kind":"vm.create","header":{"tag":1024,"version":2,"id":"9223372036854775808","length":70},"name":["0bar"],"config":{"cpuid":0,"memory":11242,"block":null,"network":[],"vmtype":1,"image":"2285118f5675","argv":null}}',
      ],
    ];
    const run = vmmStats(['wire', 'decode'], pairs.map(([hex]) => hex).join('\n'));
    expect(run.stdout).toBe(pairs.map(([, json]) => json).join('\n') + '\n');
  });

  it('decodes every malformed vector to its expected verdict, going on after bad lines and skipping blank ones', () => {
    const lines = malformed.filter((line) => line.hex !== '');
    const input = ['', ...lines.map((line) => `  ${line.hex}  `), 'not hex at all', ''].join('\n');
    const run = vmmStats(['wire', 'decode'], input);
    expect(run.status).toBe(0);
    const out = outputLines(run.stdout);
    expect(out).toHaveLength(lines.length + 1);
    const wrong = lines.filter((line, i) =>
      line.expect === 'ok'
        ? JSON.stringify(out[i]) !== JSON.stringify({ ok: true, ...line.decoded })
        : out[i].ok !== false || typeof out[i].error !== 'string' || typeof out[i].code !== 'string',
    );
    expect(wrong.map((line) => line.hex)).toEqual([]);
    expect(out.at(-1)).toMatchObject({ ok: false, code: 'not_hex' });
  });

  it('decodes every valid vector to its fields, in the vectors JSON conventions', () => {
    const run = vmmStats(['wire', 'decode'], valid.map((line) => line.hex).join('\n'));
    const out = outputLines(run.stdout);
    expect(out).toHaveLength(valid.length);
    const wrong = valid.filter((line, i) => {
      const { hex: _hex, vm: _vm, id, ...fields } = line;
      const { ok, header, ...decoded } = out[i] as { ok: boolean; header: { id: string } };
      return !ok || header.id !== (id ?? '0') || JSON.stringify(decoded) !== JSON.stringify(fields);
    });
    expect(wrong.map((line) => line.hex)).toEqual([]);
  });

  it('--binary reads a raw stream of concatenated frames and reports a truncated tail', () => {
    const frames = valid.slice(0, 50).map((line) => Buffer.from(line.hex, 'hex'));
    const run = vmmStats(['wire', 'decode', '--binary'], Buffer.concat([...frames, frames[0].subarray(0, 30)]));
    expect(run.status).toBe(0);
    const out = outputLines(run.stdout);
    expect(out.slice(0, 50).map((line) => line.kind)).toEqual(valid.slice(0, 50).map((line) => line.kind));
    expect(out[50]).toMatchObject({ ok: false, code: 'truncated' });
    expect(out).toHaveLength(51);
  });

  it('--binary stops at a bad header, after printing the frames before it, and names its id', () => {
    const bad = Buffer.from(valid[1].hex, 'hex');
    bad.writeUInt16BE(7, 4);
    const stream = Buffer.concat([Buffer.from(valid[0].hex, 'hex'), bad, Buffer.from(valid[2].hex, 'hex')]);
    const out = outputLines(vmmStats(['wire', 'decode', '--binary'], stream).stdout);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ ok: true, kind: valid[0].kind });
    expect(out[1]).toMatchObject({ ok: false, code: 'unknown_version', id: valid[1].id ?? '0' });
  });

  it('--max-frame refuses larger frames, in hex and binary mode', () => {
    const hex = valid.find((line) => line.kind === 'stats.data')!.hex;
    expect(outputLines(vmmStats(['wire', 'decode', '--max-frame', '100'], hex).stdout)[0]).toMatchObject({
      ok: false,
      code: 'frame_too_large',
    });
    const binary = vmmStats(['wire', 'decode', '--binary', '--max-frame', '100'], Buffer.from(hex, 'hex'));
    expect(outputLines(binary.stdout)[0]).toMatchObject({ ok: false, code: 'frame_too_large' });
  });

  it('exits 1 when stdin cannot be read, here a directory', () => {
    const directory = openSync(repoRoot, 'r');
    try {
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'wire', 'decode'], {
        cwd: repoRoot,
        stdio: [directory, 'pipe', 'pipe'],
        encoding: 'utf8',
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/cannot read stdin/);
    } finally {
      closeSync(directory);
    }
  });

  it('refuses a bad --max-frame with exit status 2', () => {
    const run = vmmStats(['wire', 'decode', '--max-frame', 'lots'], '');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--max-frame/);
  });
});

describe('vmm-stats wire encode', () => {
  it('encodes every valid vector to its hex', () => {
    const input = readFileSync(new URL('../fixtures/valid.jsonl', import.meta.url), 'utf8');
    const run = vmmStats(['wire', 'encode'], input);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(valid.map((line) => line.hex).join('\n') + '\n');
  });

  it('reports bad lines on stderr with their numbers, encodes the others, and exits 1', () => {
    const good = JSON.stringify({ kind: 'stats.subscribe', id: '2', name: ['tenant'] });
    const input = [good, '{"kind":', '', JSON.stringify({ kind: 'stats.add', id: '1', name: [], pid: 2 ** 60, taps: [] }), good].join('\n');
    const run = vmmStats(['wire', 'encode'], input);
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split('\n')).toHaveLength(2);
    expect(run.stderr).toMatch(/line 2: /);
    expect(run.stderr).toMatch(/line 4: .*safe integer/);
    expect(run.stderr).not.toMatch(/line [135]:/);
  });

  it('round-trips with decode: decode output encodes back to the same frames', () => {
    const hexes = valid.slice(0, 200).map((line) => line.hex);
    const decoded = vmmStats(['wire', 'decode'], hexes.join('\n')).stdout;
    const withTopLevelIds = decoded
      .trim()
      .split('\n')
      .map((line) => {
        const { header, ...rest } = JSON.parse(line) as { header: { id: string } };
        return JSON.stringify({ ...rest, id: header.id });
      });
    expect(vmmStats(['wire', 'encode'], withTopLevelIds.join('\n')).stdout).toBe(hexes.join('\n') + '\n');
  });
});

describe('vmm-stats wire', () => {
  it('prints its usage with --help', () => {
    const run = vmmStats(['wire', '--help'], '');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/vmm-stats wire decode \[--binary\] \[--max-frame BYTES\]/);
  });

  it('refuses an unknown action with exit status 2', () => {
    expect(vmmStats(['wire', 'explode'], '').status).toBe(2);
  });
});
