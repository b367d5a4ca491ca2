import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { PeerCredentials } from '../sampler/host.js';
import { FrameReader, FrameStreamError, type WireError } from '../wire/index.js';
import type { VmName } from '../wire/messages.js';

export interface ConnectionLimits {
  maxFrameSize: number;
  /**
   * Bytes of Data frames a subscriber may have waiting before the oldest are dropped. Replies are never
   * dropped; a peer that sends requests but does not read its replies is paused instead.
   */
  maxQueuedBytes: number;
  /**
   * How long a frame may take to arrive once its first bytes have: a peer that stalls in the middle of one
   * is closed after this, unless it subscribes or has replies still waiting to be read.
   */
  idleTimeoutMs: number;
}

/** What the daemon does with what a connection sends. */
export interface ConnectionHandlers {
  /**
   * The whole frames that arrived together, headers included and already checked: each is answered, in
   * order, by a reply.
   */
  frames(connection: Connection, frames: readonly Buffer[]): void;
  /** A header that cannot be read: the stream cannot be resynchronised, so the connection must close. */
  unreadableHeader(connection: Connection, error: WireError): void;
}

/**
 * Requests of one connection answered before the event loop turns to the others: a client that pipelines
 * thousands (a manager registering a host, or a hostile one) must not keep everyone else waiting.
 */
const REQUESTS_PER_TURN = 64;

/**
 * One client of the Stats channel: reads frames off the socket, keeps its subscriptions, and owns its
 * outgoing queue so that a subscriber that does not read costs bounded memory and delays nobody else.
 */
export class Connection {
  readonly subscriptions: VmName[] = [];
  /** Who connected, as the kernel says; undefined when it could not be read. */
  readonly peer: PeerCredentials | undefined;
  readonly #socket: Socket;
  readonly #reader: FrameReader;
  readonly #limits: ConnectionLimits;
  readonly #logger: Logger;
  /** Data frames not yet handed to the socket, oldest first. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  /**
   * Data frames sent since the last write that lie one after the other in the same memory, as the daemon
   * encodes a tick's frames: handed to the socket as one buffer rather than a write per frame.
   */
  #run: { memory: ArrayBufferLike; start: number; end: number } | undefined;
  #droppedFrames = 0;
  #closing = false;
  readonly #handlers: ConnectionHandlers;
  /** Whole requests received and not yet answered, oldest first: at most what one read brought. */
  readonly #unanswered: Buffer[] = [];
  /** The header that could not be read, once the requests before it are answered: then the connection closes. */
  #unreadable: FrameStreamError | undefined;
  /** The peer does not read its replies: its other requests wait until it does. */
  #repliesBlocked = false;
  #turnScheduled = false;
  /** Runs from the first bytes of a frame to its last. */
  #partialFrameTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, limits: ConnectionLimits, logger: Logger, handlers: ConnectionHandlers, peer?: PeerCredentials) {
    this.#socket = socket;
    this.peer = peer;
    this.#limits = limits;
    this.#logger = logger;
    this.#handlers = handlers;
    this.#reader = new FrameReader({ maxFrameSize: limits.maxFrameSize });
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('drain', () => this.#drained());
    socket.on('error', (err) => this.#logger.debug({ err }, 'connection error'));
    socket.once('close', () => clearTimeout(this.#partialFrameTimer));
  }

  get droppedFrames(): number {
    return this.#droppedFrames;
  }

  /** Bytes of Data frames waiting in this connection's own queue (the socket's buffer aside). */
  get queuedBytes(): number {
    return this.#pendingBytes;
  }

  /** Nothing of what was sent is still waiting, here or in the socket: the memory it was in may be reused. */
  get flushed(): boolean {
    return this.#run === undefined && this.#pending.length === 0 && this.#socket.writableLength === 0;
  }

  get closed(): boolean {
    return this.#closing || this.#socket.destroyed;
  }

  /** A reply: always sent. If the peer does not read them, its requests are neither read nor answered until it does. */
  reply(frame: Buffer): void {
    if (this.closed) return;
    this.#writeRun();
    if (!this.#socket.write(frame)) this.#repliesBlocked = true;
  }

  /** A reply after which the stream cannot go on: send it, then close. */
  replyAndClose(frame: Buffer): void {
    if (this.closed) return;
    this.#writeRun();
    this.#closing = true;
    this.#socket.end(frame);
  }

  /**
   * A Data frame: written if the socket keeps up (at the latest by uncork), else queued; the oldest queued
   * go first when full.
   */
  sendData(frame: Buffer): void {
    if (this.closed) return;
    if (this.#pending.length === 0 && this.#socket.writableLength + this.#runBytes() < this.#limits.maxQueuedBytes) {
      this.#addToRun(frame);
      return;
    }
    this.#writeRun();
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    while (this.#pendingBytes > this.#limits.maxQueuedBytes && this.#pending.length > 0) {
      this.#pendingBytes -= this.#pending.shift()!.length;
      this.#droppedFrames += 1;
    }
  }

  /** Holds this tick's writes back so that they leave in one system call, at uncork. */
  cork(): void {
    this.#socket.cork();
  }

  uncork(): void {
    this.#writeRun();
    this.#socket.uncork();
  }

  #addToRun(frame: Buffer): void {
    const run = this.#run;
    if (run !== undefined && run.memory === frame.buffer && run.end === frame.byteOffset) {
      run.end += frame.length;
      return;
    }
    this.#writeRun();
    this.#run = { memory: frame.buffer, start: frame.byteOffset, end: frame.byteOffset + frame.length };
  }

  #runBytes(): number {
    return this.#run === undefined ? 0 : this.#run.end - this.#run.start;
  }

  #writeRun(): void {
    const run = this.#run;
    if (run === undefined) return;
    this.#run = undefined;
    this.#socket.write(Buffer.from(run.memory, run.start, run.end - run.start));
  }

  /** Writes out what is queued, then closes; resolves once the peer has it or the socket is gone. */
  async drainAndClose(timeoutMs: number): Promise<void> {
    if (this.#socket.destroyed) return;
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    this.#closing = true;
    this.#writeRun();
    for (const frame of this.#pending.splice(0)) this.#socket.write(frame);
    this.#pendingBytes = 0;
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), timeoutMs);
    await closed;
    clearTimeout(timer);
  }

  #flushPending(): void {
    while (this.#pending.length > 0 && this.#socket.writableLength < this.#limits.maxQueuedBytes) {
      const frame = this.#pending.shift()!;
      this.#pendingBytes -= frame.length;
      this.#socket.write(frame);
    }
  }

  #drained(): void {
    this.#flushPending();
    if (!this.#repliesBlocked) return;
    this.#repliesBlocked = false;
    this.#serveTurn();
  }

  #receive(chunk: Buffer): void {
    if (this.#closing || this.#unreadable !== undefined) return;
    try {
      this.#unanswered.push(...this.#reader.push(chunk));
    } catch (err) {
      if (!(err instanceof FrameStreamError)) throw err;
      // Every request gets an answer: those that came whole before the bad header too.
      this.#unanswered.push(...err.frames);
      this.#unreadable = err;
    }
    this.#serveTurn();
  }

  /**
   * Answers a turn's worth of the requests received, and the others in the next turns of the event loop,
   * the socket not read meanwhile: the other connections' requests are answered in between.
   */
  #serveTurn(): void {
    this.#turnScheduled = false;
    if (this.closed) return;
    if (!this.#repliesBlocked && this.#unanswered.length > 0) this.#answer(this.#unanswered.splice(0, REQUESTS_PER_TURN));
    if (this.#unanswered.length > 0) {
      if (!this.#repliesBlocked) this.#scheduleTurn();
    } else if (this.#unreadable !== undefined) {
      this.#handlers.unreadableHeader(this, this.#unreadable);
    } else {
      this.#watchPartialFrame();
    }
    this.#readWhenIdle();
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => this.#serveTurn());
  }

  /** Reads the socket only while every request read is answered and the peer reads its replies. */
  #readWhenIdle(): void {
    const read = !this.#repliesBlocked && this.#unanswered.length === 0 && this.#unreadable === undefined;
    if (read === this.#socket.isPaused()) {
      if (read) this.#socket.resume();
      else this.#socket.pause();
    }
  }

  /** The replies to requests answered together leave together, in one write. */
  #answer(frames: readonly Buffer[]): void {
    this.#socket.cork();
    try {
      this.#handlers.frames(this, frames);
    } finally {
      this.#socket.uncork();
    }
  }

  #watchPartialFrame(): void {
    if (this.#reader.buffered === 0) {
      clearTimeout(this.#partialFrameTimer);
      this.#partialFrameTimer = undefined;
    } else {
      this.#partialFrameTimer ??= setTimeout(() => this.#closeIfStalled(), this.#limits.idleTimeoutMs);
    }
  }

  #closeIfStalled(): void {
    this.#partialFrameTimer = undefined;
    if (this.#reader.buffered === 0 || this.closed) return;
    if (this.subscriptions.length > 0 || this.#socket.writableLength > 0 || this.#unanswered.length > 0) return;
    this.#logger.info({ bufferedBytes: this.#reader.buffered, idleTimeoutMs: this.#limits.idleTimeoutMs },
      'closing a connection that stalled in the middle of a frame');
    this.#closing = true;
    this.#socket.destroy();
  }
}
