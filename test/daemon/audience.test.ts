import { describe, expect, it } from 'vitest';
import { audienceOf } from '../../src/daemon/audience.js';
import { Slicer } from '../../src/loop/slicer.js';
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

  it('gives each VM the subscribers to any prefix of its name, each once, in the connections\' order', async () => {
    const everything = subscriber([]);
    const tenant = subscriber(['tenant'], ['tenant', 'web']); // overlapping subscriptions of one connection
    const webOnly = subscriber(['tenant', 'web']);
    const idle = subscriber();
    const { subscribersOf, subscribers, targets } = await audienceOf(vms, [webOnly, idle, tenant, everything], false);
    expect(subscribers).toEqual([webOnly, tenant, everything]);
    expect(subscribersOf.get(web)).toEqual([webOnly, tenant, everything]);
    expect(subscribersOf.get(db)).toEqual([tenant, everything]);
    expect(subscribersOf.get(other)).toEqual([everything]);
    expect(targets.wanted).toEqual(vms);
  });

  it('wants only the VMs someone subscribes to, unless they are served whole', async () => {
    const tenant = subscriber(['tenant']);
    expect((await audienceOf(vms, [tenant], false)).targets.wanted).toEqual([web, db]);
    expect((await audienceOf(vms, [tenant], true)).targets.wanted).toEqual(vms);
    expect((await audienceOf(vms, [subscriber(['ten'])], false)).subscribersOf.size).toBe(0); // a prefix is whole labels
  });

  it('is the same made in slices, letting the event loop go on between them', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => vm(i % 2 === 0 ? 'tenant' : 'other', `vm${i}`));
    const connections = [subscriber(['tenant']), subscriber([])];
    const whole = await audienceOf(many, connections, false);
    let turns = 0;
    let counting = true;
    const count = () => {
      if (!counting) return;
      turns += 1;
      setImmediate(count);
    };
    setImmediate(count);
    const sliced = await audienceOf(many, connections, false, new Slicer(0));
    counting = false;
    expect(turns).toBeGreaterThan(5);
    expect(sliced.targets).toEqual(whole.targets);
    expect([...sliced.subscribersOf]).toEqual([...whole.subscribersOf]);
  });
});
