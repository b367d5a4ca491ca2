import { sameTaps, type RegisteredVm } from '../vm/vm.js';

export type Registration =
  | { outcome: 'added'; vm: RegisteredVm }
  | { outcome: 'unchanged'; vm: RegisteredVm }
  | { outcome: 'replaced'; vm: RegisteredVm; previous: RegisteredVm };

/** The registered VMs by full name. Registrations outlive the connection that made them. */
export class Registry {
  readonly #vms = new Map<string, RegisteredVm>();
  readonly #onChange: () => void;
  #generation = 0;

  /** `onChange` is called after every registration and removal. */
  constructor(onChange: () => void = () => {}) {
    this.#onChange = onChange;
  }

  get size(): number {
    return this.#vms.size;
  }

  /** Changes whenever a VM is registered or removed: what was made from all() is then out of date. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Same name and same process: unchanged (taps updated). Same name, other process: replaced. Registering
   * again exactly what is registered changes nothing, so that a manager that repeats its Adds does not make
   * the daemon redo what depends on the registrations (the audience, the state file) every time.
   */
  register(vm: RegisteredVm): Registration {
    const previous = this.#vms.get(vm.name);
    if (previous !== undefined && sameRegistration(previous, vm)) return { outcome: 'unchanged', vm: previous };
    this.#vms.set(vm.name, vm);
    this.#changed();
    if (previous === undefined) return { outcome: 'added', vm };
    if (previous.pid === vm.pid && previous.startTime === vm.startTime) return { outcome: 'unchanged', vm };
    return { outcome: 'replaced', vm, previous };
  }

  get(name: string): RegisteredVm | undefined {
    return this.#vms.get(name);
  }

  remove(name: string): RegisteredVm | undefined {
    const vm = this.#vms.get(name);
    if (this.#vms.delete(name)) this.#changed();
    return vm;
  }

  /** Removes `vm` only if it is still the registration under its name (not replaced meanwhile). */
  removeExact(vm: RegisteredVm): boolean {
    if (this.#vms.get(vm.name) !== vm) return false;
    this.#vms.delete(vm.name);
    this.#changed();
    return true;
  }

  #changed(): void {
    this.#generation += 1;
    this.#onChange();
  }

  all(): IterableIterator<RegisteredVm> {
    return this.#vms.values();
  }
}

function sameRegistration(a: RegisteredVm, b: RegisteredVm): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.vmmDevice === b.vmmDevice && sameTaps(a.taps, b.taps);
}
