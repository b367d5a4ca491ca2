import type { Socket } from 'node:net';
import { BurstLog } from '../log/burst.js';
import type { Logger } from '../log/logger.js';
import { Collector, type TickSnapshot, type VmSample } from '../collector/collector.js';
import { Slicer } from '../loop/slicer.js';
import { TickSchedule } from '../collector/schedule.js';
import { raiseOpenFilesLimit, type PeerCredentials } from '../sampler/host.js';
import { sampleProcesses, SamplerError } from '../sampler/sampler.js';
import { isPid, vmNameOf, vmNameProblem, type RegisteredVm, type VmName } from '../vm/vm.js';
import {
  decodeHeader,
  Decoder,
  Encoder,
  encodeMessage,
  failReply,
  FrameMemory,
  successReply,
  WireError,
} from '../wire/index.js';
import type { Message } from '../wire/messages.js';
import { Histogram } from '../metrics/histogram.js';
import type { MetricsSource } from '../metrics/server.js';
import { AddLookups } from './add-lookups.js';
import { audienceOf, type Audience } from './audience.js';
import { Connection, type ConnectionHandlers } from './connection.js';
import { UnixListener } from './listener.js';
import { Registry } from './registry.js';
import { loadState, prepareStateDirectory, StateWriter } from './state-file.js';
import { prepareSocketPath, removeSocket, resolveGroup, resolveUser, setSocketAccess } from './socket-path.js';

export interface DaemonOptions {
  socketPath: string;
  /** Permission bits of the socket file. */
  socketMode: number;
  /** Group (name or gid) that owns the socket file; unchanged when absent. */
  socketGroup?: string;
  intervalMs: number;
  maxFrameSize: number;
  maxQueuedBytes: number;
  /** Connections open at once; past it, a new one gets a failure frame and is closed. */
  maxConnections: number;
  /** VMs registered at once; past it, an Add of a new name fails. */
  maxVms: number;
  /** How long a frame may take to arrive once begun (see ConnectionLimits). */
  idleTimeoutMs: number;
  debugfsRoot?: string;
  /**
   * Who may Add and Remove, by user and group (names or ids), besides root; when both are empty or
   * absent, everyone who can open the socket may.
   */
  managerUsers?: readonly string[];
  managerGroups?: readonly string[];
  /** Where the registrations are kept across restarts; none when absent or empty. */
  stateFile?: string;
  logger: Logger;
}

type StatsRequest = Extract<Message, { kind: 'stats.add' | 'stats.remove' | 'stats.subscribe' }>;

/** The peers allowed to change the registrations, when not everyone is. */
interface Managers {
  uids: ReadonlySet<number>;
  gids: ReadonlySet<number>;
}

async function resolveManagers(users: readonly string[] = [], groups: readonly string[] = []): Promise<Managers | undefined> {
  if (users.length === 0 && groups.length === 0) return undefined;
  return {
    uids: new Set(await Promise.all(users.map(resolveUser))),
    gids: new Set(await Promise.all(groups.map(resolveGroup))),
  };
}

function mayManage(managers: Managers | undefined, peer: PeerCredentials | undefined): boolean {
  if (managers === undefined) return true;
  if (peer === undefined) return false;
  return peer.uid === 0 || managers.uids.has(peer.uid) || managers.gids.has(peer.gid);
}

const SHUTDOWN_FLUSH_MS = 2000;
const REFUSAL_LINGER_MS = 1000;
const LISTEN_BACKLOG = 4096;
/** A request as it arrived: decoded, or what is wrong with it. */
interface Request {
  id: bigint;
  tag: number;
  message?: Message;
  problem?: string;
}

/** How many Data frames a tick encodes between two looks at the clock. */
const PUBLISH_CHECK_EVERY = 32;

/** Around the 20 ms a request may wait at most (p99) while a tick runs. */
const TICK_BLOCKING_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];

/** Registration changes are written to the state file together within a tick, and never later than this. */
const MAX_STATE_DELAY_MS = 1000;

/**
 * The stats daemon: a VM manager registers VMs (Add/Remove) and subscribers receive their statistics
 * (Subscribe, then a Data frame per VM every interval), over the seed's Stats channel on a Unix socket.
 */
export class StatsDaemon {
  readonly registry: Registry;
  readonly #state: StateWriter | undefined;
  readonly #managers: Managers | undefined;
  readonly #collector: Collector;
  readonly #schedule: TickSchedule;
  readonly #options: DaemonOptions;
  readonly #logger: Logger;
  readonly #connections = new Set<Connection>();
  /** Renderings of the metrics endpoint still reading a snapshot, by snapshot. */
  readonly #readers = new Map<TickSnapshot, number>();
  /** Per tick, the longest stretch it held the event loop: what requests waited behind at most. */
  readonly #tickBlocking = new Histogram(TICK_BLOCKING_BOUNDS);
  /** Encodes each tick's Data frames, into memory reused once every connection has sent them. */
  readonly #encoder = new Encoder();
  /** Decodes the requests, one at a time, as they come: what they repeat (names, taps) is kept once. */
  readonly #decoder = new Decoder();
  #listener: UnixListener | undefined;
  readonly #unacceptable: BurstLog;
  readonly #undecodable: BurstLog;
  readonly #unreadableHeaders: BurstLog;
  #droppedOnClosed = 0;
  /** Connections refused since the limit was last reached, while it still is. */
  #refusedConnections = 0;
  /** Whether the metrics endpoint serves every VM, so that each is sampled whether subscribed or not. */
  #servedWhole = false;
  /**
   * Counts the changes of subscriptions (and of whether every VM is served): with the registry's generation,
   * what an audience was made for.
   */
  #subscriptionChanges = 0;
  /** Who wants which VM, and the registry's generation and subscription changes it was made at. */
  #audience: { generation: number; subscriptionChanges: number; audience: Audience } | undefined;
  #latest: TickSnapshot | undefined;
  /** Told after each tick that the metrics snapshot holds new samples (the metrics endpoint's overview). */
  readonly #sampleListeners = new Set<() => void>();

  private constructor(options: DaemonOptions, managers: Managers | undefined) {
    this.#options = options;
    this.#managers = managers;
    this.#logger = options.logger;
    const stateFile = options.stateFile || undefined;
    this.#state = stateFile === undefined ? undefined : new StateWriter(stateFile, Math.min(options.intervalMs, MAX_STATE_DELAY_MS),
      () => this.registry.all(), options.logger);
    this.registry = new Registry(() => this.#state?.changed());
    this.#collector = new Collector({ logger: options.logger, debugfsRoot: options.debugfsRoot });
    this.#schedule = new TickSchedule(options.intervalMs, () => this.#tick(), options.logger);
    this.#unacceptable = new BurstLog(options.logger, 'cannot accept a connection');
    this.#undecodable = new BurstLog(options.logger, 'request that does not decode');
    this.#unreadableHeaders = new BurstLog(options.logger, 'unreadable frame header: closing the connection');
  }

  static async start(options: DaemonOptions): Promise<StatsDaemon> {
    const gid = options.socketGroup === undefined ? undefined : await resolveGroup(options.socketGroup);
    const managers = await resolveManagers(options.managerUsers, options.managerGroups);
    await prepareSocketPath(options.socketPath, options.logger);
    if (options.stateFile) prepareStateDirectory(options.stateFile);
    StatsDaemon.#raiseOpenFilesLimit(options);
    const daemon = new StatsDaemon(options, managers);
    if (options.stateFile) daemon.#restore(options.stateFile);
    daemon.#listen();
    await setSocketAccess(options.socketPath, options.socketMode, gid);
    daemon.#schedule.start();
    options.logger.info(
      { socket: options.socketPath, intervalMs: options.intervalMs, mode: options.socketMode.toString(8) },
      'stats daemon listening',
    );
    return daemon;
  }

  /** The open-files limit as high as the host allows, so that --max-connections binds before EMFILE does. */
  static #raiseOpenFilesLimit({ logger, maxConnections }: DaemonOptions): void {
    const { soft, hard, error } = raiseOpenFilesLimit();
    logger.info({ soft, hard, err: error }, error ? 'could not raise the open-files limit' : 'open-files limit');
    // Beyond the connections: the socket, the state file, netlink, and a VMM's statistics fds.
    if (soft < maxConnections + 64) {
      logger.warn({ openFiles: soft, maxConnections }, 'the open-files limit is below --max-connections: connections past it fail with EMFILE');
    }
  }

  /**
   * Registers again what the state file holds, each VM whose pid still has the start time it was
   * registered with: the others exited, or their pid went to another process, while the daemon was down.
   */
  #restore(path: string): void {
    const { vms, setAside } = loadState(path, this.#logger);
    const samples = sampleProcesses(vms.map((vm) => vm.pid));
    let dropped = 0;
    vms.forEach((vm, i) => {
      const sample = samples[i]!;
      const why = !sample.ok ? sample.error.message : sample.value.startTime !== vm.startTime ? 'its pid now belongs to another process' : undefined;
      if (why === undefined) {
        this.registry.register(vm);
        return;
      }
      dropped += 1;
      this.#logger.info({ vm: vm.name, pid: vm.pid, reason: why }, 'registration not restored: its process exited, or its pid went to another process, while the daemon was down');
    });
    this.#logger.info({ stateFile: path, restored: this.registry.size, dropped, setAside }, 'registrations restored');
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

  /**
   * What an embedded metrics endpoint serves: the newest sample of every VM still registered, and the
   * daemon's own numbers. From this call on, every VM is sampled each tick, subscribed or not.
   */
  serveMetrics(): MetricsSource {
    this.#servedWhole = true;
    this.#subscriptionChanges += 1;
    return {
      snapshot: () => this.#metricsSnapshot(),
      onSamples: (listener) => {
        this.#sampleListeners.add(listener);
        return () => this.#sampleListeners.delete(listener);
      },
    };
  }

  /**
   * The latest tick's VMs still registered, read off the tick's rows as the rendering goes. The snapshot is
   * held (not handed back to the collector) until `done`.
   */
  #metricsSnapshot(): ReturnType<MetricsSource['snapshot']> {
    const snapshot = this.#latest;
    if (snapshot !== undefined) this.#readers.set(snapshot, (this.#readers.get(snapshot) ?? 0) + 1);
    const registry = this.registry;
    const vms = (function* () {
      for (const sample of snapshot?.samples ?? []) {
        if (registry.get(sample.vm.name) !== sample.vm) continue;
        // A scrape reads views of the rows, which the snapshot's pin keeps until its rendering is done, and the
        // overview reads the totals off them: no records, which at 10,000 VMs would be some 30 MB a scrape. The
        // sample itself: a wrapper made per VM each tick outlives young-generation collections and fills the old
        // generation.
        yield sample;
      }
    })();
    const { lastTickSeconds, ticks, tickSecondsTotal, hypervisorOpensPending } = this.#collector.stats;
    const collector = {
      subscribers: this.subscriberCount,
      droppedDataFrames: this.droppedDataFrames,
      intervalSeconds: this.#options.intervalMs / 1000,
      lastTickSeconds,
      ticksTotal: ticks,
      tickSecondsTotal,
      hypervisorOpensPending,
      tickBlocking: this.#tickBlocking,
    };
    const self = { vms: this.registry.size, collector };
    return { vms, self, done: () => snapshot !== undefined && this.#doneReading(snapshot) };
  }

  #doneReading(snapshot: TickSnapshot): void {
    const readers = this.#readers.get(snapshot)! - 1;
    if (readers > 0) {
      this.#readers.set(snapshot, readers);
      return;
    }
    this.#readers.delete(snapshot);
    if (snapshot !== this.#latest) this.#collector.release(snapshot);
  }

  /** The snapshot served before is handed back to the collector, once no rendering reads it any more. */
  #replaceLatest(snapshot: TickSnapshot): void {
    const before = this.#latest;
    this.#latest = snapshot;
    if (before !== undefined && !this.#readers.has(before)) this.#collector.release(before);
  }

  /** Bytes of Data frames waiting in the subscribers' queues now. */
  get queuedDataBytes(): number {
    let queued = 0;
    for (const connection of this.#connections) queued += connection.queuedBytes;
    return queued;
  }

  /** Stops accepting, sends what is queued, closes every connection and removes the socket file. */
  async stop(): Promise<void> {
    await this.#schedule.stop();
    this.#collector.close();
    this.#listener?.close();
    await Promise.all([...this.#connections].map((c) => c.drainAndClose(SHUTDOWN_FLUSH_MS)));
    await this.#state?.flush();
    await removeSocket(this.#options.socketPath);
    this.#logger.info({ socket: this.#options.socketPath }, 'stats daemon stopped');
  }

  #listen(): void {
    // The socket must not be reachable by others between its creation and its chmod.
    const umask = process.umask(0o177);
    try {
      // A burst of connections must not find the backlog full while a tick holds the event loop: the
      // kernel caps this at its somaxconn.
      this.#listener = UnixListener.listen(this.#options.socketPath, LISTEN_BACKLOG, {
        connection: (socket, peer) => this.#accept(socket, peer),
        error: (err) => this.#unacceptable.note({ err }),
      });
    } finally {
      process.umask(umask);
    }
  }

  #accept(socket: Socket, peer: PeerCredentials | SamplerError): void {
    if (this.#connections.size >= this.#options.maxConnections) {
      this.#refuse(socket);
      return;
    }
    if (this.#refusedConnections > 0) {
      this.#logger.info({ refused: this.#refusedConnections, limit: this.#options.maxConnections }, 'accepting connections again');
      this.#refusedConnections = 0;
    }
    const { maxFrameSize, maxQueuedBytes, idleTimeoutMs } = this.#options;
    const limits = { maxFrameSize, maxQueuedBytes, idleTimeoutMs };
    const connection = new Connection(socket, limits, this.#logger, this.#handlers, this.#peerOf(peer));
    this.#connections.add(connection);
    this.#logger.debug({ connections: this.#connections.size }, 'connection accepted');
    socket.once('close', () => {
      this.#connections.delete(connection);
      if (connection.subscriptions.length > 0) this.#subscriptionChanges += 1;
      this.#droppedOnClosed += connection.droppedFrames;
      this.#logger.debug({ connections: this.#connections.size }, 'connection closed');
    });
  }

  #peerOf(peer: PeerCredentials | SamplerError): PeerCredentials | undefined {
    if (!(peer instanceof SamplerError)) return peer;
    this.#logger.warn({ err: peer }, 'cannot tell who connected: the connection may subscribe only');
    return undefined;
  }

  /** One failure frame saying why, then closed; logged once for the whole burst of refusals. */
  #refuse(socket: Socket): void {
    const limit = this.#options.maxConnections;
    if (this.#refusedConnections++ === 0) {
      this.#logger.warn({ limit }, 'too many connections: refusing new ones until some close (--max-connections)');
    }
    socket.on('error', () => {});
    socket.end(encodeMessage(failReply(0n, `too many connections (the daemon's limit is ${limit}): try again later`)));
    // A peer that does not read the refusal must not hold the socket open.
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  readonly #handlers: ConnectionHandlers = {
    frames: (connection, frames) => this.#answerAll(connection, frames),
    unreadableHeader: (connection, error) => {
      this.#unreadableHeaders.note({ code: error.code, reason: error.message });
      connection.replyAndClose(encodeMessage(failReply(error.id ?? 0n, `bad frame header: ${error.message}`)));
    },
  };

  /**
   * Every request gets exactly one reply, carrying its id, in the order they came. The Adds among requests
   * that arrived together have their pids and taps looked up at once.
   */
  #answerAll(connection: Connection, raws: readonly Buffer[]): void {
    const requests = raws.map((raw) => this.#decodeRequest(raw));
    let lookups: AddLookups | undefined;
    try {
      lookups = new AddLookups(requests.map((request) => request.message));
    } catch (err) {
      this.#logger.error({ err }, 'internal error while looking up the processes and taps of Adds');
    }
    for (const request of requests) connection.reply(this.#answerSafely(connection, request, lookups));
  }

  #decodeRequest(raw: Buffer): Request {
    const { id, tag } = decodeHeader(raw);
    try {
      return { id, tag, message: this.#decoder.decode(raw, { maxFrameSize: this.#options.maxFrameSize }).message };
    } catch (err) {
      if (!(err instanceof WireError)) return { id, tag, problem: `internal error: ${(err as Error).message}` };
      this.#undecodable.note({ code: err.code, reason: err.message });
      return { id, tag, problem: `cannot decode the request: ${err.message}` };
    }
  }

  /** A bug in serving one request must cost that request, not the daemon and everyone on it. */
  #answerSafely(connection: Connection, request: Request, lookups: AddLookups | undefined): Buffer {
    const { id, tag, message, problem } = request;
    if (message === undefined) return encodeMessage(failReply(id, problem!));
    try {
      if (lookups === undefined) throw new Error('the lookups of this batch of requests failed');
      const result = this.#serve(connection, message, lookups);
      return encodeMessage(result.ok ? successReply(id, tag, result.msg) : failReply(id, result.msg));
    } catch (err) {
      this.#logger.error({ err }, 'internal error while serving a request');
      return encodeMessage(failReply(id, `internal error: ${(err as Error).message}`));
    }
  }

  #serve(connection: Connection, message: Message, lookups: AddLookups): { ok: boolean; msg: string } {
    switch (message.kind) {
      case 'stats.add':
      case 'stats.remove':
      case 'stats.subscribe':
        return this.#serveStats(connection, message, lookups);
      case 'stats.data':
        return { ok: false, msg: 'Stats Data is what this daemon sends, not what it takes' };
      default:
        return { ok: false, msg: `${message.kind} is not served here: this daemon speaks the Stats channel only` };
    }
  }

  #serveStats(connection: Connection, request: StatsRequest, lookups: AddLookups): { ok: boolean; msg: string } {
    const problem = vmNameProblem(request.name, { prefix: request.kind === 'stats.subscribe' });
    if (problem !== undefined) return { ok: false, msg: `${JSON.stringify(request.name)}: ${problem}` };
    if (request.kind !== 'stats.subscribe' && !mayManage(this.#managers, connection.peer)) return this.#notPermitted(connection, request);
    switch (request.kind) {
      case 'stats.add':
        return this.#add(request, lookups);
      case 'stats.remove':
        return this.#remove(vmNameOf(request.name));
      case 'stats.subscribe':
        return this.#subscribe(connection, request.name);
    }
  }

  #notPermitted(connection: Connection, request: StatsRequest): { ok: boolean; msg: string } {
    const { uid, gid } = connection.peer ?? {};
    this.#logger.warn({ uid, gid, request: request.kind, vm: vmNameOf(request.name) }, 'refused a registration change from a peer that is not the VM manager');
    const who = uid === undefined ? 'a peer whose credentials could not be read' : `uid ${uid}, gid ${gid}`;
    return { ok: false, msg: `not permitted: only the VM manager (--manager-user, --manager-group) or root may Add and Remove, not ${who}` };
  }

  #add(request: Extract<Message, { kind: 'stats.add' }>, lookups: AddLookups): { ok: boolean; msg: string } {
    const name = vmNameOf(request.name);
    if (!isPid(request.pid)) return { ok: false, msg: `${name}: ${request.pid} is not a process id` };
    if (this.registry.size >= this.#options.maxVms && this.registry.get(name) === undefined) {
      return { ok: false, msg: `${name}: too many VMs (${this.registry.size} registered, the daemon's limit)` };
    }
    let startTime: bigint;
    try {
      startTime = lookups.startTimeOf(request.pid);
    } catch (err) {
      if (!(err instanceof SamplerError)) throw err;
      const why = err.code === 'ESRCH' ? 'no such process' : err.message;
      return { ok: false, msg: `${name}: cannot register pid ${request.pid}: ${why}` };
    }
    const vm: RegisteredVm = { name, labels: request.name, pid: request.pid, startTime, taps: request.taps };
    const registration = this.registry.register(vm);
    this.#logger.info({ vm: name, pid: vm.pid, taps: vm.taps, outcome: registration.outcome }, 'VM registered');
    const missing = lookups.missingOf(vm.taps);
    const later = missing.length > 0 ? `; not present yet, read once they appear: ${missing.join(', ')}` : '';
    return { ok: true, msg: `${registration.outcome} ${name} (pid ${vm.pid}, taps: ${vm.taps.join(', ') || 'none'})${later}` };
  }

  #remove(name: string): { ok: boolean; msg: string } {
    const vm = this.registry.remove(name);
    if (vm === undefined) return { ok: false, msg: `no VM named '${name}' is registered` };
    this.#logger.info({ vm: name, pid: vm.pid }, 'VM removed');
    return { ok: true, msg: `removed ${name}` };
  }

  #subscribe(connection: Connection, prefix: VmName): { ok: boolean; msg: string } {
    const name = vmNameOf(prefix);
    if (!connection.subscriptions.some((known) => vmNameOf(known) === name)) {
      connection.subscriptions.push(prefix);
      this.#subscriptionChanges += 1;
    }
    this.#logger.debug({ prefix: name }, 'subscribed');
    return { ok: true, msg: `subscribed to ${name === '' ? 'every VM' : `${name} and the VMs below it`}` };
  }

  /**
   * Who wants which VM now: made again only after a registration or a subscription changed, in the tick's
   * slices. Changes while it is made are answered meanwhile, and make the next tick's audience.
   */
  async #currentAudience(slicer: Slicer): Promise<Audience> {
    const generation = this.registry.generation;
    const subscriptionChanges = this.#subscriptionChanges;
    const known = this.#audience;
    if (known?.generation === generation && known.subscriptionChanges === subscriptionChanges) return known.audience;
    const audience = await audienceOf([...this.registry.all()], this.#connections, this.#servedWhole, slicer);
    this.#audience = { generation, subscriptionChanges, audience };
    return audience;
  }

  /**
   * One tick: sample what is wanted (off the JavaScript thread: requests are answered meanwhile), unregister
   * the VMs whose process is gone, send the Data.
   */
  async #tick(): Promise<void> {
    const slicer = new Slicer();
    const audience = await this.#currentAudience(slicer);
    const snapshot = await this.#collector.tick(audience.targets, slicer);
    this.#replaceLatest(snapshot);
    for (const { vm, why } of snapshot.gone) {
      if (this.registry.removeExact(vm)) this.#logger.info({ vm: vm.name, pid: vm.pid }, `VM process exited (${why}): unregistered`);
    }
    await this.#publish(snapshot, audience);
    slicer.end();
    this.#tickBlocking.observe(slicer.longestMs / 1000);
    for (const listener of this.#sampleListeners) listener();
  }

  /**
   * One Data frame per VM, encoded once and handed to every connection that subscribes to it. The frames go
   * into memory of the daemon's own, reused tick after tick once every connection has sent everything: a
   * tick then allocates no memory for them, which would otherwise pile up until the next garbage collection.
   * Done in the tick's slices: what is encoded by the end of one is sent before the loop goes on.
   */
  async #publish(snapshot: TickSnapshot, audience: Audience): Promise<void> {
    this.#encoder.memory = this.#reusableFrameMemory();
    const { samples, slicer } = snapshot;
    for (let from = 0; from < samples.length; ) {
      if (from > 0) await slicer.next();
      from = this.#publishSlice(samples, from, audience, slicer);
    }
    this.#logger.debug({ vms: samples.length, ms: snapshot.seconds * 1000 }, 'tick');
  }

  /** Sends the Data of samples[from...] until the slice is over; returns where the next slice starts. */
  #publishSlice(samples: readonly VmSample[], from: number, audience: Audience, slicer: Slicer): number {
    for (const connection of audience.subscribers) connection.cork();
    try {
      let i = from;
      for (; i < samples.length && !(i > from && i % PUBLISH_CHECK_EVERY === 0 && slicer.due()); i++) {
        const sample = samples[i]!;
        const subscribers = audience.subscribersOf.get(sample.vm);
        // A VM removed while the tick read it has no Data any more.
        if (subscribers === undefined || this.registry.get(sample.vm.name) !== sample.vm) continue;
        const frame = sample.dataFrame(this.#encoder);
        for (const connection of subscribers) connection.sendData(frame);
      }
      return i;
    } finally {
      for (const connection of audience.subscribers) connection.uncork();
    }
  }

  /** The last tick's frame memory, when none of its frames is still waiting to be sent; else new memory. */
  #reusableFrameMemory(): FrameMemory {
    for (const connection of this.#connections) {
      if (!connection.flushed) return new FrameMemory(this.#encoder.memory.slabBytes);
    }
    this.#encoder.memory.reset();
    return this.#encoder.memory;
  }
}
