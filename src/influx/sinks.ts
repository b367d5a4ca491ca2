// The two ways a batch of line protocol leaves: written down a TCP connection kept open (a telegraf
// socket_listener, as albatross-influx sends), or POSTed to InfluxDB's HTTP write API. Each says what became
// of a batch the same way, so that one writer (writer.ts) buffers and retries for both.

import { connect, type Socket } from 'node:net';
import type { InfluxTarget } from './target.js';

/** What became of a batch. */
export type Delivery =
  | { outcome: 'delivered' }
  /** Not taken, for now: the receiver is away, busy, or refuses us until someone acts. Worth sending again. */
  | { outcome: 'unreachable'; reason: string }
  /** The receiver read the batch and refused its points: sending them again would only be refused again. */
  | { outcome: 'rejected'; reason: string };

export interface Sink {
  /** Where the points go, for log lines. */
  readonly destination: string;
  /** Sends a batch of lines, each ending in a newline. Never rejects: a failure is a Delivery too. */
  send(body: string): Promise<Delivery>;
  /** Ends any connection and any request under way. */
  close(): void;
}

/** How long a connection attempt, a write or a request may take before it counts as failed. */
const TIMEOUT_MS = 10_000;
/** Of an HTTP error's body, what a log line shows: InfluxDB's are a short JSON message. */
const ERROR_BODY_CHARS = 500;

function reasonOf(err: unknown): string {
  const error = err as NodeJS.ErrnoException;
  return error.code !== undefined && !error.message.includes(error.code) ? `${error.code}: ${error.message}` : error.message;
}

/** Runs `start` with a timeout; `abandon` undoes what it began when the time runs out. */
function within<T>(what: string, start: (resolve: (value: T) => void, reject: (err: Error) => void) => void, abandon: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      abandon();
      reject(new Error(`${what} took longer than ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
    start(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Line protocol down one TCP connection, opened on first use and again after it breaks. What TCP has taken
 * is all a sender can know of: the lines of a batch written just before the peer went away may be lost
 * with it, and the ones of a batch sent again may arrive twice (InfluxDB keeps one point per series and
 * timestamp, so twice is once).
 */
class TcpSink implements Sink {
  readonly destination: string;
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  #connecting: Socket | undefined;

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
    this.destination = `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  async send(body: string): Promise<Delivery> {
    try {
      const socket = this.#socket ?? (await this.#connect());
      await within<void>('writing', (resolve, reject) => socket.write(body, (err) => (err ? reject(err) : resolve())), () => socket.destroy());
      return { outcome: 'delivered' };
    } catch (err) {
      this.close();
      return { outcome: 'unreachable', reason: reasonOf(err) };
    }
  }

  close(): void {
    this.#socket?.destroy();
    this.#connecting?.destroy();
    this.#socket = undefined;
  }

  #connect(): Promise<Socket> {
    const socket = connect({ host: this.#host, port: this.#port });
    this.#connecting = socket;
    const closedEarly = () => new Error(`the connection to ${this.destination} closed while it was being made`);
    return within<Socket>(
      `connecting to ${this.destination}`,
      (resolve, reject) => {
        socket.once('error', reject);
        socket.once('close', () => reject(closedEarly()));
        socket.once('connect', () => {
          this.#connecting = undefined;
          socket.off('error', reject);
          // A later error closes the socket, and the next send connects again.
          socket.on('error', () => {});
          socket.once('close', () => {
            if (this.#socket === socket) this.#socket = undefined;
          });
          socket.setKeepAlive(true);
          // A listener has nothing to say; whatever it sends is read and dropped, so that it cannot pile up.
          socket.resume();
          this.#socket = socket;
          resolve(socket);
        });
      },
      () => socket.destroy(),
    );
  }
}

/** What a status means for a batch. InfluxDB answers 204 to a write, 400 to lines it cannot take, 413 when too large. */
function deliveryOf(status: number, message: string): Delivery {
  if (status >= 200 && status < 300) return { outcome: 'delivered' };
  const reason = `HTTP ${status}${message === '' ? '' : `: ${message}`}`;
  // 401, 403 (a token), 404 (a database not made yet), 429, 5xx: someone may fix it, or it may pass.
  return [400, 413, 422].includes(status) ? { outcome: 'rejected', reason } : { outcome: 'unreachable', reason };
}

/** The start of a response's body, read no further than that. */
async function bodyStart(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (text.length < ERROR_BODY_CHARS) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text.slice(0, ERROR_BODY_CHARS).trim();
}

/** A POST of each batch to InfluxDB's write API: 1.x's /write, or 2.x's /api/v2/write with a token. */
class HttpSink implements Sink {
  readonly destination: string;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  #requests = new AbortController();

  constructor(url: URL, token: string | undefined) {
    this.#url = url;
    this.destination = url.href;
    // InfluxDB 2.x, and 1.8's token form ("user:password"), take a token in this header.
    this.#headers = { 'content-type': 'text/plain; charset=utf-8', ...(token === undefined ? {} : { authorization: `Token ${token}` }) };
  }

  async send(body: string): Promise<Delivery> {
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers: this.#headers,
        body,
        // A POST that follows a redirect becomes a GET: a redirect is told, not followed.
        redirect: 'manual',
        signal: AbortSignal.any([this.#requests.signal, AbortSignal.timeout(TIMEOUT_MS)]),
      });
      const message = response.ok ? '' : await bodyStart(response);
      if (response.ok) await response.body?.cancel();
      const location = response.headers.get('location');
      return deliveryOf(response.status, location === null ? message : `redirected to ${location}; give that URL`);
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      return { outcome: 'unreachable', reason: reasonOf(cause instanceof Error ? cause : err) };
    }
  }

  close(): void {
    this.#requests.abort();
    this.#requests = new AbortController();
  }
}

/** The sink for a target; `token` goes with every HTTP request (a TCP listener takes none). */
export function openSink(target: InfluxTarget, token: string | undefined): Sink {
  return target.kind === 'tcp' ? new TcpSink(target.host, target.port) : new HttpSink(target.url, token);
}
