// What the Adds that arrived together need from the kernel, asked for all of them at once: a manager that
// registers a host's VMs pipelines its Adds, and one call for a thousand pids (or taps) costs far less
// than a thousand calls.
import { processError, SampleRows, sampleProcessRows, START_TIME_FIELD, SamplerError } from '../sampler/sampler.js';
import { isPid } from '../vm/vm.js';
import type { Message } from '../wire/messages.js';

type AddRequest = Extract<Message, { kind: 'stats.add' }>;

export class AddLookups {
  readonly #startTimes = new Map<number, bigint | SamplerError>();
  readonly #missingTaps: ReadonlySet<string>;

  /** Looks up the pids and taps of the Adds among `messages`; `missingInterfaces` says which taps do not exist. */
  constructor(messages: readonly (Message | undefined)[], rows: SampleRows, missingInterfaces: (names: readonly string[]) => string[]) {
    const adds = messages.filter((message): message is AddRequest => message?.kind === 'stats.add');
    const pids = [...new Set(adds.map((add) => add.pid).filter(isPid))];
    if (pids.length > 0) this.#lookUpStartTimes(pids, rows);
    const taps = [...new Set(adds.flatMap((add) => add.taps))];
    this.#missingTaps = new Set(taps.length > 0 ? missingInterfaces(taps) : []);
  }

  #lookUpStartTimes(pids: number[], rows: SampleRows): void {
    sampleProcessRows(pids, rows);
    pids.forEach((pid, i) => {
      const errno = rows.errors[i]!;
      this.#startTimes.set(pid, errno === 0 ? rows.rows[i * rows.fields + START_TIME_FIELD]! : processError(pid, errno));
    });
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
