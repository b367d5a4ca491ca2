// The registrations on disk, so that a restart of the daemon forgets no VM: written whole and atomically
// (a temporary file, fsync, rename, fsync of the directory) after changes, read once at start.
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { Slicer } from '../loop/slicer.js';
import { isPid, vmNameOf, vmNameProblem, type RegisteredVm } from '../vm/vm.js';

/** The default place of the state file: where each system keeps a daemon's variable state. */
export const DEFAULT_STATE_FILE =
  process.platform === 'freebsd' ? '/var/db/vmm-stats/registrations.json' : '/var/lib/vmm-stats/registrations.json';

const FORMAT_VERSION = 1;

/** A registration as the file holds it: u64s as decimal strings, the name as its labels. */
interface StoredVm {
  name: string[];
  pid: number;
  startTime: string;
  taps: string[];
  vmmDevice?: string;
}

function toStored(vm: RegisteredVm): StoredVm {
  const stored: StoredVm = { name: [...vm.labels], pid: vm.pid, startTime: vm.startTime.toString(), taps: [...vm.taps] };
  if (vm.vmmDevice !== undefined) stored.vmmDevice = vm.vmmDevice;
  return stored;
}

/**
 * The file's text for these registrations, made in `slicer`'s slices: at 100,000 VMs it takes far longer
 * than a request may wait.
 */
export async function stateText(vms: readonly RegisteredVm[], slicer = new Slicer()): Promise<string> {
  const entries: string[] = [];
  for (let i = 0; i < vms.length; i++) {
    if (slicer.dueAt(i)) await slicer.next();
    entries.push(JSON.stringify(toStored(vms[i]!)));
  }
  return `{"version":${FORMAT_VERSION},"vms":[${entries.join(',')}]}\n`;
}

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The registration an entry holds, or why it holds none. */
function fromStored(entry: unknown): RegisteredVm | string {
  if (typeof entry !== 'object' || entry === null) return 'not an object';
  const { name, pid, startTime, taps, vmmDevice } = entry as Record<string, unknown>;
  if (!isStringList(name)) return 'name is not a list of labels';
  const problem = vmNameProblem(name);
  if (problem !== undefined) return problem;
  if (typeof pid !== 'number' || !isPid(pid)) return `pid ${JSON.stringify(pid)} is not a process id`;
  if (typeof startTime !== 'string' || !/^\d{1,20}$/.test(startTime)) return 'startTime is not a decimal string';
  if (!isStringList(taps)) return 'taps is not a list of names';
  if (vmmDevice !== undefined && typeof vmmDevice !== 'string') return 'vmmDevice is not a string';
  const vm: RegisteredVm = { name: vmNameOf(name), labels: name, pid, startTime: BigInt(startTime), taps, vmmDevice };
  return vm;
}

export interface LoadedState {
  /** Every entry that validated, in the file's order. */
  vms: RegisteredVm[];
  /** Where an unreadable file, or one with entries that did not validate, was moved; undefined when none was. */
  setAside?: string;
}

/**
 * Reads the registrations. A missing file is a first start (nothing). A file that does not parse, or with
 * entries that do not validate, is renamed aside (`<file>.corrupt-<time>`) and logged, and what validated is
 * returned: a damaged file never stops the daemon, and nothing readable in it is lost.
 */
export function loadState(path: string, logger: Logger): LoadedState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { vms: [] };
    throw new Error(`cannot read the state file ${path}: ${(err as Error).message}`);
  }
  const { vms, problems } = parseState(text);
  if (problems.length === 0) return { vms };
  const setAside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(path, setAside);
  logger.error({ stateFile: path, setAside, problems, kept: vms.length }, 'state file damaged: set aside, starting with what it held that was readable');
  return { vms, setAside };
}

function parseState(text: string): { vms: RegisteredVm[]; problems: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { vms: [], problems: [`not JSON: ${(err as Error).message}`] };
  }
  const { version, vms } = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (version !== FORMAT_VERSION) return { vms: [], problems: [`version ${JSON.stringify(version)}, not ${FORMAT_VERSION}`] };
  if (!Array.isArray(vms)) return { vms: [], problems: ['vms is not a list'] };
  const kept: RegisteredVm[] = [];
  const problems: string[] = [];
  vms.forEach((entry, i) => {
    const vm = fromStored(entry);
    if (typeof vm === 'string') problems.push(`entry ${i}: ${vm}`);
    else kept.push(vm);
  });
  return { vms: kept, problems };
}

/** Makes the state file's directory, owner-only: at start, so that a path that cannot be used says so then. */
export function prepareStateDirectory(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`cannot make the state file's directory ${dirname(path)}: ${(err as Error).message}`);
  }
}

/** Writes the whole text atomically: the file is the old one or the new one, never a mix, even on a crash. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const directory = await open(dirname(path), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/**
 * Keeps the state file up to date with the registrations: changes that come within `windowMs` of the first
 * unsaved one are written together, and at most one write is under way at a time.
 */
export class StateWriter {
  readonly #path: string;
  readonly #windowMs: number;
  readonly #current: () => Iterable<RegisteredVm>;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #dirty = false;

  constructor(path: string, windowMs: number, current: () => Iterable<RegisteredVm>, logger: Logger) {
    this.#path = path;
    this.#windowMs = windowMs;
    this.#current = current;
    this.#logger = logger;
  }

  /** The registrations changed: write them out soon. */
  changed(): void {
    this.#dirty = true;
    if (this.#timer === undefined && this.#writing === undefined) this.#timer = setTimeout(() => this.#write(), this.#windowMs);
  }

  /** Writes what is unsaved now, and resolves once the file holds it. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    if (this.#dirty) await this.#write();
  }

  #write(): Promise<void> {
    this.#timer = undefined;
    this.#dirty = false;
    this.#writing = stateText([...this.#current()])
      .then((text) => writeAtomically(this.#path, text))
      .then(() => {
        this.#writing = undefined;
        // Changes that came while the file was being written.
        if (this.#dirty) this.changed();
      })
      .catch((err: unknown) => {
        this.#writing = undefined;
        this.#dirty = true;
        this.#logger.error({ err, stateFile: this.#path }, 'cannot write the state file: trying again at the next change');
      });
    return this.#writing;
  }
}
