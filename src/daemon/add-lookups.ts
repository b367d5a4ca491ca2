// What the Adds that arrived together need from the kernel, asked for all of them at once: a manager that
// registers a host's VMs pipelines its Adds, and one call for a thousand pids (or taps) costs far less
// than a thousand calls.
import { missingInterfaceNames, processStartTimes, SamplerError } from '../sampler/sampler.js';
import { isPid } from '../vm/vm.js';
import type { Message } from '../wire/messages.js';

type AddRequest = Extract<Message, { kind: 'stats.add' }>;

export class AddLookups {
  readonly #startTimes = new Map<number, bigint | SamplerError>();
  readonly #missingTaps: ReadonlySet<string>;

  /** Looks up the pids and taps of the Adds among `messages`. */
  constructor(messages: readonly (Message | undefined)[]) {
    const adds = messages.filter((message): message is AddRequest => message?.kind === 'stats.add');
    const pids = [...new Set(adds.map((add) => add.pid).filter(isPid))];
    if (pids.length > 0) processStartTimes(pids).forEach((startTime, i) => this.#startTimes.set(pids[i]!, startTime));
    this.#missingTaps = new Set(missingInterfaceNames([...new Set(adds.flatMap((add) => add.taps))]));
  }

  /** The start time of a pid of one of the Adds; throws its SamplerError when it could not be read. */
  startTimeOf(pid: number): bigint {
    const known = this.#startTimes.get(pid);
    if (known === undefined) throw new Error(`pid ${pid} was not looked up`);
    if (known instanceof SamplerError) throw known;
    return known;
  }

  /** The taps among `taps` (those of one of the Adds) that do not exist now. */
  missingOf(taps: readonly string[]): string[] {
    return taps.filter((tap) => this.#missingTaps.has(tap));
  }
}
