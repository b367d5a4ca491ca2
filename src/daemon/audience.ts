import type { Targets } from '../collector/collector.js';
import { Slicer } from '../loop/slicer.js';
import { coveringPrefixes, vmNameOf, type RegisteredVm } from '../vm/vm.js';
import type { Connection } from './connection.js';

/**
 * Who wants which VM, worked out once for a set of registrations and subscriptions rather than on every
 * tick for every connection: the collector's targets, and each wanted VM's subscribers.
 */
export interface Audience {
  readonly targets: Targets;
  /** The connections that have any subscription. */
  readonly subscribers: readonly Connection[];
  /** The subscribers of each VM that has any. */
  readonly subscribersOf: ReadonlyMap<RegisteredVm, readonly Connection[]>;
}

/**
 * `servedWhole`: every VM is wanted whether or not anyone subscribes (the metrics endpoint serves them).
 * Costs VMs × their names' depth, not VMs × subscriptions: each VM looks up its covering prefixes among the
 * subscribed ones. Made in `slicer`'s slices: at 100,000 VMs it takes far longer than a request may wait.
 */
export async function audienceOf(
  vms: readonly RegisteredVm[], connections: Iterable<Connection>, servedWhole: boolean, slicer = new Slicer(),
): Promise<Audience> {
  const subscribers = [...connections].filter((connection) => connection.subscriptions.length > 0);
  const byPrefix = subscribersByPrefix(subscribers);
  const order = new Map(subscribers.map((connection, i) => [connection, i]));
  const subscribersOf = new Map<RegisteredVm, Connection[]>();
  for (let i = 0; i < vms.length; i++) {
    if (slicer.dueAt(i)) await slicer.next();
    const vm = vms[i]!;
    const audience = audienceOfVm(vm, byPrefix, order);
    if (audience.length > 0) subscribersOf.set(vm, audience);
  }
  const wanted = servedWhole ? vms : vms.filter((vm) => subscribersOf.has(vm));
  return { targets: { vms, wanted }, subscribers, subscribersOf };
}

function subscribersByPrefix(subscribers: readonly Connection[]): Map<string, Connection[]> {
  const byPrefix = new Map<string, Connection[]>();
  for (const connection of subscribers) {
    for (const prefix of connection.subscriptions) {
      const name = vmNameOf(prefix);
      const list = byPrefix.get(name) ?? [];
      if (list.at(-1) !== connection) list.push(connection);
      byPrefix.set(name, list);
    }
  }
  return byPrefix;
}

/** The subscribers to any prefix of the VM's name, each once, in the subscribers' `order`. */
function audienceOfVm(vm: RegisteredVm, byPrefix: ReadonlyMap<string, Connection[]>, order: ReadonlyMap<Connection, number>): Connection[] {
  let found: Connection[] = [];
  let lists = 0;
  for (const prefix of coveringPrefixes(vm.labels)) {
    const list = byPrefix.get(prefix);
    if (list === undefined) continue;
    found = lists === 0 ? list : [...found, ...list];
    lists += 1;
  }
  if (lists <= 1) return found;
  return [...new Set(found)].sort((a, b) => order.get(a)! - order.get(b)!);
}
