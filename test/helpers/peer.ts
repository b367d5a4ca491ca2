import { createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { Decoder, encodeMessage, FrameReader } from '../../src/wire/index.js';
import type { Frame, Message } from '../../src/wire/messages.js';

/**
 * A raw peer on the daemon's socket: sends any bytes, hands back each frame it receives, and knows when
 * the daemon closed the connection. For tests that send what a well-behaved client never would.
 */
export class RawPeer {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  readonly #reader = new FrameReader({ maxFrameSize: 1 << 24 });
  readonly #decoder = new Decoder();
  #ended = false;
  readonly #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const raw of this.#reader.push(chunk)) this.frames.push(this.#decoder.decode(raw, { maxFrameSize: 1 << 24 }));
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  static async connect(path: string): Promise<RawPeer> {
    const socket = createConnection(path);
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(bytes: Uint8Array | Message): void {
    this.socket.write(bytes instanceof Uint8Array ? bytes : encodeMessage(bytes));
  }

  /** Waits for the reply carrying `id` (Data frames are kept in `frames`); undefined if the peer closed. */
  async reply(id: bigint, timeoutMs = 5000): Promise<Message | undefined> {
    const found = await this.waitFor(() => this.frames.find((f) => f.header.id === id && isReply(f.message)), timeoutMs);
    return found?.message;
  }

  /** Resolves with the first value `probe` finds, or undefined once the connection has ended. */
  async waitFor<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined || this.#ended) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  dataFrames(): Extract<Message, { kind: 'stats.data' }>[] {
    return this.frames.flatMap((f) => (f.message.kind === 'stats.data' ? [f.message] : []));
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

function isReply(message: Message): boolean {
  return message.kind === 'success' || message.kind === 'fail';
}
