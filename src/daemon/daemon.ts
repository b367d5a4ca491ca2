import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { Collector, type TickReport } from '../collector/collector.js';
import { sampleProcess, SamplerError } from '../sampler/sampler.js';
import {
  decodeFrame,
  decodeHeader,
  encodeMessage,
  failReply,
  FrameMemory,
  successReply,
  WireError,
} from '../wire/index.js';
import type { Message } from '../wire/messages.js';
import type { MetricsSource } from '../metrics/server.js';
import { Connection, type ConnectionHandlers } from './connection.js';
import { Registry, vmNameOf, type RegisteredVm } from './registry.js';
import { prepareSocketPath, removeSocket, resolveGroup, setSocketAccess } from './socket-path.js';

export interface DaemonOptions {
  socketPath: string;
  /** Permission bits of the socket file. */
  socketMode: number;
  /** Group (name or gid) that owns the socket file; unchanged when absent. */
  socketGroup?: string;
  intervalMs: number;
  maxFrameSize: number;
  maxQueuedBytes: number;
  /** Sample every VM each tick, subscribed or not (the metrics endpoint wants them all). */
  sampleAll?: boolean;
  debugfsRoot?: string;
  logger: Logger;
}

type StatsRequest = Extract<Message, { kind: 'stats.add' | 'stats.remove' | 'stats.subscribe' }>;

const SHUTDOWN_FLUSH_MS = 2000;
/** pid_t is 32-bit signed on Linux and FreeBSD. */
const MAX_PID = 0x7fffffff;

/**
 * The stats daemon: a VM manager registers VMs (Add/Remove) and subscribers receive their statistics
 * (Subscribe, then a Data frame per VM every interval), over the seed's Stats channel on a Unix socket.
 */
export class StatsDaemon {
  readonly registry = new Registry();
  readonly collector: Collector;
  readonly #options: DaemonOptions;
  readonly #logger: Logger;
  readonly #connections = new Set<Connection>();
  #frameMemory = new FrameMemory();
  readonly #server: Server;
  #droppedOnClosed = 0;

  private constructor(options: DaemonOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.collector = new Collector(
      this.registry,
      {
        intervalMs: options.intervalMs,
        logger: options.logger,
        debugfsRoot: options.debugfsRoot,
        wants: (vm) => options.sampleAll === true || this.#isSubscribed(vm),
      },
      (report) => this.#publish(report),
    );
    this.#server = createServer((socket) => this.#accept(socket));
  }

  static async start(options: DaemonOptions): Promise<StatsDaemon> {
    const gid = options.socketGroup === undefined ? undefined : await resolveGroup(options.socketGroup);
    await prepareSocketPath(options.socketPath, options.logger);
    const daemon = new StatsDaemon(options);
    await daemon.#listen();
    await setSocketAccess(options.socketPath, options.socketMode, gid);
    daemon.collector.start();
    options.logger.info(
      { socket: options.socketPath, intervalMs: options.intervalMs, mode: options.socketMode.toString(8) },
      'stats daemon listening',
    );
    return daemon;
  }

  get subscriberCount(): number {
    let count = 0;
    for (const connection of this.#connections) if (connection.subscriptions.length > 0) count += 1;
    return count;
  }

  /** Data frames dropped for subscribers that did not keep up, since the start. */
  get droppedDataFrames(): number {
    let dropped = this.#droppedOnClosed;
    for (const connection of this.#connections) dropped += connection.droppedFrames;
    return dropped;
  }

  /** What the embedded metrics endpoint serves: the newest sample of every VM, and the daemon's own numbers. */
  readonly metricsSource: MetricsSource = {
    snapshot: () => {
      const vms = [...this.collector.latest()].map(({ vm, stats }) => ({ name: vm.name, stats }));
      const { lastTickSeconds, ticks, tickSecondsTotal } = this.collector.stats;
      const collector = {
        subscribers: this.subscriberCount,
        droppedDataFrames: this.droppedDataFrames,
        lastTickSeconds,
        ticksTotal: ticks,
        tickSecondsTotal,
      };
      const self = { vms: this.registry.size, collector };
      return { vms, self };
    },
  };

  /** Bytes of Data frames waiting in the subscribers' queues now. */
  get queuedDataBytes(): number {
    let queued = 0;
    for (const connection of this.#connections) queued += connection.queuedBytes;
    return queued;
  }

  /** Stops accepting, sends what is queued, closes every connection and removes the socket file. */
  async stop(): Promise<void> {
    this.collector.stop();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([...this.#connections].map((c) => c.drainAndClose(SHUTDOWN_FLUSH_MS)));
    await closed;
    await removeSocket(this.#options.socketPath);
    this.#logger.info({ socket: this.#options.socketPath }, 'stats daemon stopped');
  }

  #listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      // The socket must not be reachable by others between its creation and its chmod.
      const umask = process.umask(0o177);
      this.#server.listen(this.#options.socketPath, () => {
        process.umask(umask);
        this.#server.off('error', reject);
        this.#server.on('error', (err) => this.#logger.error({ err }, 'socket server error'));
        resolve();
      });
    });
  }

  #accept(socket: Socket): void {
    const limits = { maxFrameSize: this.#options.maxFrameSize, maxQueuedBytes: this.#options.maxQueuedBytes };
    const connection = new Connection(socket, limits, this.#logger, this.#handlers);
    this.#connections.add(connection);
    this.#logger.debug({ connections: this.#connections.size }, 'connection accepted');
    socket.once('close', () => {
      this.#connections.delete(connection);
      this.#droppedOnClosed += connection.droppedFrames;
      this.#logger.debug({ connections: this.#connections.size }, 'connection closed');
    });
  }

  readonly #handlers: ConnectionHandlers = {
    frame: (connection, frame) => connection.reply(this.#answerSafely(connection, frame)),
    unreadableHeader: (connection, error) => {
      this.#logger.warn({ code: error.code, reason: error.message }, 'unreadable frame header: closing the connection');
      connection.replyAndClose(encodeMessage(failReply(error.id ?? 0n, `bad frame header: ${error.message}`)));
    },
  };

  /** A bug in serving one request must cost that request, not the daemon and everyone on it. */
  #answerSafely(connection: Connection, raw: Buffer): Buffer {
    try {
      return this.#answer(connection, raw);
    } catch (err) {
      this.#logger.error({ err }, 'internal error while serving a request');
      return encodeMessage(failReply(decodeHeader(raw).id, `internal error: ${(err as Error).message}`));
    }
  }

  /** Every request gets exactly one reply, carrying its id. */
  #answer(connection: Connection, raw: Buffer): Buffer {
    const { id, tag } = decodeHeader(raw);
    let message: Message;
    try {
      message = decodeFrame(raw, { maxFrameSize: this.#options.maxFrameSize }).message;
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.#logger.warn({ code: err.code, reason: err.message }, 'request that does not decode');
      return encodeMessage(failReply(id, `cannot decode the request: ${err.message}`));
    }
    const result = this.#serve(connection, message);
    return encodeMessage(result.ok ? successReply(id, tag, result.msg) : failReply(id, result.msg));
  }

  #serve(connection: Connection, message: Message): { ok: boolean; msg: string } {
    switch (message.kind) {
      case 'stats.add':
      case 'stats.remove':
      case 'stats.subscribe':
        return this.#serveStats(connection, message);
      case 'stats.data':
        return { ok: false, msg: 'Stats Data is what this daemon sends, not what it takes' };
      default:
        return { ok: false, msg: `${message.kind} is not served here: this daemon speaks the Stats channel only` };
    }
  }

  #serveStats(connection: Connection, request: StatsRequest): { ok: boolean; msg: string } {
    const name = vmNameOf(request.name);
    switch (request.kind) {
      case 'stats.add':
        return this.#add(name, request);
      case 'stats.remove':
        return this.#remove(name);
      case 'stats.subscribe':
        return this.#subscribe(connection, request.name);
    }
  }

  #add(name: string, request: Extract<Message, { kind: 'stats.add' }>): { ok: boolean; msg: string } {
    if (request.name.length === 0) return { ok: false, msg: 'a VM to add needs a name' };
    if (request.pid <= 0 || request.pid > MAX_PID) return { ok: false, msg: `${name}: ${request.pid} is not a process id` };
    let startTime: bigint;
    try {
      startTime = sampleProcess(request.pid).startTime;
    } catch (err) {
      if (!(err instanceof SamplerError)) throw err;
      const why = err.code === 'ESRCH' ? 'no such process' : err.message;
      return { ok: false, msg: `${name}: cannot register pid ${request.pid}: ${why}` };
    }
    const vm: RegisteredVm = { name, labels: request.name, pid: request.pid, startTime, taps: request.taps };
    const registration = this.registry.register(vm);
    if (registration.outcome === 'replaced') this.collector.forget(registration.previous);
    this.#logger.info({ vm: name, pid: vm.pid, taps: vm.taps, outcome: registration.outcome }, 'VM registered');
    const missing = this.collector.missingInterfaces(vm.taps);
    const later = missing.length > 0 ? `; not present yet, read once they appear: ${missing.join(', ')}` : '';
    return { ok: true, msg: `${registration.outcome} ${name} (pid ${vm.pid}, taps: ${vm.taps.join(', ') || 'none'})${later}` };
  }

  #remove(name: string): { ok: boolean; msg: string } {
    const vm = this.registry.remove(name);
    if (vm === undefined) return { ok: false, msg: `no VM named '${name}' is registered` };
    this.collector.forget(vm);
    this.#logger.info({ vm: name, pid: vm.pid }, 'VM removed');
    return { ok: true, msg: `removed ${name}` };
  }

  #subscribe(connection: Connection, prefix: string[]): { ok: boolean; msg: string } {
    const name = vmNameOf(prefix);
    if (!connection.subscriptions.some((known) => vmNameOf(known) === name)) connection.subscriptions.push(prefix);
    this.#logger.debug({ prefix: name }, 'subscribed');
    return { ok: true, msg: `subscribed to ${name === '' ? 'every VM' : `${name} and the VMs below it`}` };
  }

  #isSubscribed(vm: RegisteredVm): boolean {
    for (const connection of this.#connections) {
      if (connection.subscribesTo(vm.labels)) return true;
    }
    return false;
  }

  /**
   * One Data frame per VM, encoded once and handed to every connection that subscribes to it. The frames go
   * into memory of the daemon's own, reused tick after tick once every connection has sent everything: a
   * tick then allocates no memory for them, which would otherwise pile up until the next garbage collection.
   */
  #publish(report: TickReport): void {
    this.#frameMemory = this.#reusableFrameMemory();
    for (const connection of this.#connections) connection.cork();
    try {
      for (const sample of report.samples) {
        const labels = sample.vm.labels;
        let frame: Buffer | undefined;
        for (const connection of this.#connections) {
          if (!connection.subscribesTo(labels)) continue;
          frame ??= sample.dataFrame(this.#frameMemory);
          connection.sendData(frame);
        }
      }
    } finally {
      for (const connection of this.#connections) connection.uncork();
    }
    this.#logger.debug({ vms: report.samples.length, ms: report.seconds * 1000 }, 'tick');
  }

  /** The last tick's frame memory, when none of its frames is still waiting to be sent; else new memory. */
  #reusableFrameMemory(): FrameMemory {
    for (const connection of this.#connections) {
      if (!connection.flushed) return new FrameMemory(this.#frameMemory.slabBytes);
    }
    this.#frameMemory.reset();
    return this.#frameMemory;
  }
}
