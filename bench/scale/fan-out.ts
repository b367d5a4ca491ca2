// Many subscribers, each to one tenant's prefix, as a host shared by tenants has them: the connections
// only count the Data frames that arrive (by their headers), so that 100 subscribers cost the harness
// little next to the daemon.
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { decodeFrame, encodeMessage, FrameReader } from '../../src/wire/index.js';

class CountingSubscriber {
  readonly #socket: Socket;
  readonly #reader = new FrameReader();
  #replied = false;
  frames = 0;
  readonly replied: Promise<void>;

  constructor(socket: Socket, prefix: string[]) {
    this.#socket = socket;
    let answered: (error?: Error) => void = () => {};
    this.replied = new Promise((resolve, reject) => (answered = (error) => (error ? reject(error) : resolve())));
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.#reader.push(chunk)) {
        if (this.#replied) {
          this.frames++;
          continue;
        }
        this.#replied = true;
        const reply = decodeFrame(frame).message;
        answered(reply.kind === 'success' ? undefined : new Error(`subscription to ${prefix.join('.')} refused: ${JSON.stringify(reply)}`));
      }
    });
    socket.on('error', (error) => answered(error));
    socket.write(encodeMessage({ kind: 'stats.subscribe', id: 1n, name: prefix }));
  }

  async close(): Promise<void> {
    this.#socket.destroy();
    if (!this.#socket.closed) await once(this.#socket, 'close');
  }
}

/** `count` subscribers, to the prefixes in turn, connected and answered. */
export class FanOut {
  readonly #subscribers: CountingSubscriber[];

  private constructor(subscribers: CountingSubscriber[]) {
    this.#subscribers = subscribers;
  }

  static async open(socketPath: string, prefixes: string[][], count: number): Promise<FanOut> {
    const subscribers: CountingSubscriber[] = [];
    for (let i = 0; i < count; i++) {
      const socket = createConnection(socketPath);
      await once(socket, 'connect');
      subscribers.push(new CountingSubscriber(socket, prefixes[i % prefixes.length]!));
    }
    const fanOut = new FanOut(subscribers);
    try {
      await Promise.all(subscribers.map((subscriber) => subscriber.replied));
    } catch (error) {
      await fanOut.close();
      throw error;
    }
    return fanOut;
  }

  get count(): number {
    return this.#subscribers.length;
  }

  get dataFrames(): number {
    return this.#subscribers.reduce((sum, subscriber) => sum + subscriber.frames, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.#subscribers.map((subscriber) => subscriber.close()));
  }
}
