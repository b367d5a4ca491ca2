import { describe, expect, it } from 'vitest';
import { audienceOf } from '../../src/daemon/audience.js';
import type { Connection } from '../../src/daemon/connection.js';
import { vmNameOf, type RegisteredVm } from '../../src/vm/vm.js';

// audienceOf reads a connection's subscriptions only.
const subscriber = (...prefixes: string[][]) => ({ subscriptions: prefixes }) as unknown as Connection;
const vm = (...labels: string[]): RegisteredVm => ({ name: vmNameOf(labels), labels, pid: 1, startTime: 1n, taps: [] });

describe('audienceOf', () => {
  const web = vm('tenant', 'web');
  const db = vm('tenant', 'db');
  const other = vm('other', 'web');
  const vms = [web, db, other];

  it('gives each VM the subscribers to any prefix of its name, each once, in the connections\' order', () => {
    const everything = subscriber([]);
    const tenant = subscriber(['tenant'], ['tenant', 'web']); // overlapping subscriptions of one connection
    const webOnly = subscriber(['tenant', 'web']);
    const idle = subscriber();
    const { subscribersOf, subscribers, targets } = audienceOf(vms, [webOnly, idle, tenant, everything], false);
    expect(subscribers).toEqual([webOnly, tenant, everything]);
    expect(subscribersOf.get(web)).toEqual([webOnly, tenant, everything]);
    expect(subscribersOf.get(db)).toEqual([tenant, everything]);
    expect(subscribersOf.get(other)).toEqual([everything]);
    expect(targets.wanted).toEqual(vms);
  });

  it('wants only the VMs someone subscribes to, unless they are served whole', () => {
    const tenant = subscriber(['tenant']);
    expect(audienceOf(vms, [tenant], false).targets.wanted).toEqual([web, db]);
    expect(audienceOf(vms, [tenant], true).targets.wanted).toEqual(vms);
    expect(audienceOf(vms, [subscriber(['ten'])], false).subscribersOf.size).toBe(0); // a prefix is whole labels
  });
});
