// The harness's side of the Stats channel: registers every stand-in in one pipelined burst, or subscribes
// to all of them and counts the Data frames that arrive.
import { performance } from 'node:perf_hooks';
import { StatsClient } from '../../src/client/client.js';
import type { VmStandIn } from './fleet.js';
import type { TickClock } from './tick-clock.js';

export class Subscriber {
  readonly #client: StatsClient;
  #frames = 0;

  private constructor(client: StatsClient, clock: TickClock | undefined) {
    this.#client = client;
    client.onData(() => {
      this.#frames += 1;
      clock?.frameArrived();
    });
  }

  /** With a clock, tells it when each Data frame arrives. */
  static async connect(socketPath: string, clock?: TickClock): Promise<Subscriber> {
    return new Subscriber(await StatsClient.connect(socketPath), clock);
  }

  get dataFrames(): number {
    return this.#frames;
  }

  /** Sends every Add before reading any reply; resolves with the seconds until the last reply. */
  async register(vms: VmStandIn[]): Promise<number> {
    const started = performance.now();
    const replies = await Promise.all(
      vms.map((vm) => this.#client.request({ kind: 'stats.add', name: vm.labels, pid: vm.pid, taps: vm.taps })),
    );
    const refused = replies.flatMap((reply, i) => (reply.kind === 'fail' ? [`${vms[i]!.labels.join('.')}: ${reply.msg}`] : []));
    if (refused.length > 0) throw new Error(`the daemon refused ${refused.length} Adds, the first: ${refused[0]}`);
    return (performance.now() - started) / 1000;
  }

  /** Subscribes to every VM (the empty name). */
  async subscribeAll(): Promise<void> {
    const reply = await this.#client.request({ kind: 'stats.subscribe', name: [] });
    if (reply.kind === 'fail') throw new Error(`the daemon refused the subscription: ${reply.msg}`);
  }

  async close(): Promise<void> {
    this.#client.close();
    await this.#client.closed();
  }
}
