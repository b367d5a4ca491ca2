import type { Targets } from '../collector/collector.js';
import type { RegisteredVm } from '../vm/vm.js';
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

/** `servedWhole`: every VM is wanted whether or not anyone subscribes (the metrics endpoint serves them). */
export function audienceOf(vms: readonly RegisteredVm[], connections: Iterable<Connection>, servedWhole: boolean): Audience {
  const subscribers = [...connections].filter((connection) => connection.subscriptions.length > 0);
  const subscribersOf = new Map<RegisteredVm, Connection[]>();
  for (const vm of vms) {
    const audience = subscribers.filter((connection) => connection.subscribesTo(vm.labels));
    if (audience.length > 0) subscribersOf.set(vm, audience);
  }
  const wanted = servedWhole ? vms : vms.filter((vm) => subscribersOf.has(vm));
  return { targets: { vms, wanted }, subscribers, subscribersOf };
}
