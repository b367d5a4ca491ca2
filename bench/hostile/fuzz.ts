// A stream of random and mutated frames, each self-delimiting (its header's length is its body's), so that
// every one either gets a reply or, for a header the daemon cannot read, ends its connection.
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { decodeFrame, decodeHeader, FAIL_TAG, FrameReader, HEADER_SIZE, isReplyTag, Tag, type VmName } from '../../src/wire/index.js';

const VECTORS = new URL('../../test/fixtures/valid.jsonl', import.meta.url);

/** A seeded generator (mulberry32), so that a run can be repeated. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export class FrameSource {
  readonly #bases: Buffer[];
  readonly #random: () => number;

  constructor(seed: number) {
    const lines = readFileSync(VECTORS, 'utf8').trim().split('\n');
    this.#bases = lines.map((line) => Buffer.from((JSON.parse(line) as { hex: string }).hex, 'hex')).filter((b) => b.length < 4096);
    this.#random = random(seed);
  }

  #int(below: number): number {
    return Math.floor(this.#random() * below);
  }

  /**
   * One frame: a vector with some bytes flipped, cut or grown, or random bytes behind a valid header;
   * `closes` when its header is one the daemon cannot read, after which it ends the connection.
   */
  next(): { frame: Buffer; closes: boolean } {
    const base = this.#bases[this.#int(this.#bases.length)]!;
    let frame = Buffer.from(base);
    const roll = this.#random();
    if (roll < 0.4) {
      for (let flips = 1 + this.#int(4); flips > 0; flips--) frame[HEADER_SIZE + this.#int(Math.max(1, frame.length - HEADER_SIZE))] ^= 1 << this.#int(8);
    } else if (roll < 0.6) {
      frame = frame.subarray(0, HEADER_SIZE + this.#int(frame.length - HEADER_SIZE + 1));
    } else if (roll < 0.75) {
      frame = Buffer.concat([frame.subarray(0, HEADER_SIZE), Buffer.from(Array.from({ length: this.#int(256) }, () => this.#int(256)))]);
    } else if (roll < 0.76) {
      frame.writeUInt16BE(3 + this.#int(0xfff0), 4); // a version the daemon refuses: it closes the connection
    } else if (roll < 0.9) {
      frame.writeUInt16BE(this.#int(0x10000), 2); // any tag
    }
    frame = Buffer.from(frame.length < HEADER_SIZE ? base : frame);
    frame.writeUInt32BE(frame.length - HEADER_SIZE, 16);
    return { frame, closes: frame.readUInt16BE(4) !== 2 };
  }
}

export interface FuzzResult {
  sent: number;
  answered: number;
  /** Connections the daemon closed after a header it could not read, as it should. */
  closedByDaemon: number;
  /** Frames the daemon should have answered and did not: it closed the connection instead. */
  unanswered: number;
  /** The VMs the fuzz's Adds registered (a frame that decoded as an Add and got a success), by dotted name. */
  registered: Map<string, VmName>;
}

/** The name a frame would register, when it decodes as an Add. */
function addedName(frame: Buffer): VmName | undefined {
  if (frame.readUInt32BE(0) !== Tag.StatsAdd) return undefined;
  try {
    const { message } = decodeFrame(frame);
    return message.kind === 'stats.add' ? message.name : undefined;
  } catch {
    return undefined;
  }
}

/** Sends `total` frames over `connections` connections, one at a time on each, reconnecting after a close. */
export async function fuzz(socketPath: string, total: number, connections: number, seed = 1): Promise<FuzzResult> {
  const source = new FrameSource(seed);
  const result: FuzzResult = { sent: 0, answered: 0, closedByDaemon: 0, unanswered: 0, registered: new Map() };
  const budget = { left: total };
  const worker = async () => {
    while (budget.left > 0) await session(socketPath, source, budget, result);
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return result;
}

/** One connection: frames until the daemon closes it or the budget, shared by every connection, is spent. */
function session(socketPath: string, source: FrameSource, budget: { left: number }, result: FuzzResult): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = createConnection(socketPath);
    const reader = new FrameReader({ maxFrameSize: 1 << 24 });
    let sent = 0;
    /** What the frame in flight expects: a reply, or a reply and then the end of the connection. */
    let inFlight: 'reply' | 'close' | undefined;
    let adding: VmName | undefined;
    let done = false;
    const send = () => {
      if (budget.left <= 0 || sent >= 10_000) {
        done = true;
        socket.destroy();
        return;
      }
      const { frame, closes } = source.next();
      budget.left--;
      sent++;
      result.sent++;
      inFlight = closes ? 'close' : 'reply';
      adding = addedName(frame);
      socket.write(frame);
    };
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        const { tag } = decodeHeader(frame);
        if (!isReplyTag(tag)) continue; // Data, after a Subscribe that decoded
        result.answered++;
        if (adding !== undefined && tag !== FAIL_TAG) result.registered.set(adding.join('.'), adding);
        const expected = inFlight;
        inFlight = undefined;
        if (expected === 'reply') send(); // after a 'close' frame, the close comes next
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (inFlight !== undefined) result.unanswered++;
      else if (!done) result.closedByDaemon++;
      resolve();
    });
  });
}
