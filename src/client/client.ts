import { createConnection, type Socket } from 'node:net';
import { Decoder, encodeMessage, FrameReader } from '../wire/index.js';
import type { Frame, Message, Unsent } from '../wire/messages.js';

export type StatsRequest = Extract<Message, { kind: 'stats.add' | 'stats.remove' | 'stats.subscribe' }>;
export type Reply = Extract<Message, { kind: 'success' | 'fail' }>;

/** The daemon is not there: an operator's error, said plainly. */
class DaemonUnreachableError extends Error {
  override name = 'DaemonUnreachableError';
}

/**
 * A client of the Stats channel: requests with their own ids, matched to their replies; Data frames
 * (id 0) to a listener. Used by the command-line tools and the standalone exporter.
 */
export class StatsClient {
  readonly #socket: Socket;
  readonly #reader = new FrameReader();
  /** Data frames from one daemon repeat their names and counter descriptions: this connection's own cache of them. */
  readonly #decoder = new Decoder();
  readonly #waiting = new Map<bigint, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>();
  #nextId = 1n;
  #onData: (frame: Frame) => void = () => {};
  #closed: Promise<Error | undefined>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    this.#closed = new Promise((resolve) => {
      let failure: Error | undefined;
      socket.on('error', (err) => (failure = err));
      socket.once('close', () => {
        const err = failure ?? new Error('the daemon closed the connection');
        for (const waiter of this.#waiting.values()) waiter.reject(err);
        this.#waiting.clear();
        resolve(failure);
      });
    });
  }

  static connect(socketPath: string): Promise<StatsClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new StatsClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        const missing = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
        reject(
          missing
            ? new DaemonUnreachableError(`no stats daemon answers at ${socketPath} (is 'vmm-stats daemon' running?)`)
            : err,
        );
      });
    });
  }

  /** Sends a request and resolves with the daemon's reply (success or failure). */
  request(request: Unsent<StatsRequest>): Promise<Reply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#socket.write(encodeMessage({ ...request, id } as StatsRequest));
    });
  }

  /** Where Data frames go. */
  onData(listener: (frame: Frame) => void): void {
    this.#onData = listener;
  }

  /** Resolves when the connection ends: with its error, or undefined when it was closed cleanly. */
  closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  close(): void {
    this.#socket.end();
  }

  #receive(chunk: Buffer): void {
    try {
      for (const raw of this.#reader.push(chunk)) this.#dispatch(this.#decoder.decode(raw));
    } catch (err) {
      // A stream we cannot read any more: end it, and let every waiting request fail with why.
      this.#socket.destroy(err as Error);
    }
  }

  #dispatch(frame: Frame): void {
    const { message } = frame;
    if (message.kind === 'success' || message.kind === 'fail') {
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      waiter?.resolve(message);
    } else if (message.kind === 'stats.data') {
      this.#onData(frame);
    }
  }
}
