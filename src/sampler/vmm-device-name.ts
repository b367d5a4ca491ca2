// FreeBSD: which /dev/vmm device holds the counters of a VM registered over the wire. The wire gives a VM's
// name and pid, not its device: solo5-hvt names its VM solo5-<pid>, bhyve takes the name its caller gives,
// which a manager makes from the VM's name, whole or its last label. So those are tried in that order, and the
// first that exists is the VM's device from then on. Linux finds a VM by its pid and needs no name.
import { readdirSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import { vmNameOf, type RegisteredVm } from '../vm/vm.js';

/** Where vmm(4) makes one device per VM. */
export const VMM_DEVICE_DIRECTORY = '/dev/vmm';

type NamedVm = Pick<RegisteredVm, 'name' | 'labels' | 'pid'>;

/** The device names a VM may have, in the order they are tried: solo5-<pid>, its last label, its full name. */
export function vmmDeviceCandidates(vm: NamedVm): string[] {
  const names = [`solo5-${vm.pid}`, vm.labels.at(-1) ?? '', vmNameOf(vm.labels)];
  return [...new Set(names.filter((name) => name !== ''))];
}

/** The first of `candidates` among the `existing` device names, if any is. */
export function chooseVmmDevice(candidates: readonly string[], existing: ReadonlySet<string>): string | undefined {
  return candidates.find((name) => existing.has(name));
}

/**
 * The VMs' device names, each chosen on the first open that finds one of its candidates in the directory,
 * logged then, and kept for the VM's later opens.
 */
export class VmmDeviceNames {
  readonly #logger: Logger;
  readonly #directory: string | undefined;
  readonly #chosen = new WeakMap<NamedVm, string>();

  /** `directory` undefined (the default off FreeBSD): no VM is given a device name. */
  constructor(logger: Logger, directory = process.platform === 'freebsd' ? VMM_DEVICE_DIRECTORY : undefined) {
    this.#logger = logger;
    this.#directory = directory;
  }

  /**
   * The name to open `vm`'s device by, or undefined for the sampler's default (solo5-<pid> on FreeBSD), which
   * then answers ENOENT until the device exists.
   */
  for(vm: NamedVm): string | undefined {
    if (this.#directory === undefined) return undefined;
    const known = this.#chosen.get(vm);
    if (known !== undefined) return known;
    const candidates = vmmDeviceCandidates(vm);
    const chosen = chooseVmmDevice(candidates, this.#existing(this.#directory));
    if (chosen !== undefined) {
      this.#chosen.set(vm, chosen);
      this.#logger.info({ vm: vm.name, pid: vm.pid, device: `${this.#directory}/${chosen}`, tried: candidates }, 'hypervisor counters device chosen');
    }
    return chosen;
  }

  /** The device names there now: none while the directory is missing (vmm(4) not loaded) or unreadable. */
  #existing(directory: string): Set<string> {
    try {
      return new Set(readdirSync(directory));
    } catch (err) {
      this.#logger.debug({ err, directory }, 'cannot list the vmm devices');
      return new Set();
    }
  }
}
