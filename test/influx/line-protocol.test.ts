// The line protocol formatter against lines written out by hand from albatross-influx's own formats (its
// WV2 vmm_influxdb_stats.ml): field names and order, `%Lu.%06d` timevals, `i` integers, and the escapes.
import { describe, expect, it } from 'vitest';
import { escapeKey, formatStats, formatTimeval, unwritableReason } from '../../src/influx/line-protocol.js';
import { vmmCounters } from '../../src/wire/index.js';
import type { IfData, Stats } from '../../src/wire/messages.js';

const T = 1_764_650_000_123_000_000n;

function tap(name: string, base: number): IfData {
  const n = (k: number) => BigInt(base + k);
  return {
    name, flags: 0x8843, send_length: base + 1, max_send_length: base + 2, send_drops: base + 3, mtu: 1500,
    baudrate: n(5), input_packets: n(6), input_errors: n(7), output_packets: n(8), output_errors: n(9),
    collisions: n(10), input_bytes: n(11), output_bytes: n(12), input_mcast: n(13), output_mcast: n(14),
    input_dropped: n(15), output_dropped: n(16),
  };
}

function stats(overrides: Partial<Stats> = {}): Stats {
  return {
    rusage: {
      utime: { sec: 12n, usec: 345 }, stime: { sec: 3n, usec: 999_999 },
      maxrss: 1001n, ixrss: 1002n, idrss: 1003n, isrss: 1004n, minflt: 1005n, majflt: 1006n, nswap: 1007n,
      inblock: 1008n, outblock: 1009n, msgsnd: 1010n, msgrcv: 1011n, nsignals: 1012n, nvcsw: 1013n, nivcsw: 1014n,
    },
    vmm: vmmCounters([['exits', 77n], ['halt_exits', 5n]]),
    ifdata: [tap('tap0', 100)],
    ...overrides,
  };
}

const RESOURCE_USAGE =
  'utime=12.000345,stime=3.999999,maxrss=1001i,ixrss=1002i,idrss=1003i,isrss=1004i,minflt=1005i,maxflt=1006i,' +
  'nswap=1007i,inblock=1008i,outblock=1009i,msgsnd=1010i,msgrcv=1011i,nsignals=1012i,nvcsw=1013i,nivcsw=1014i';
const INTERFACE_100 =
  'send_queue_length=101i,max_send_queue_length=102i,send_queue_drops=103i,mtu=1500i,baudrate=105i,' +
  'vm_to_host_packets=106i,vm_to_host_errors=107i,vm_to_host_bytes=111i,vm_to_host_mcast=113i,vm_to_host_dropped=115i,' +
  'collisions=110i,host_to_vm_packets=108i,host_to_vm_errors=109i,host_to_vm_bytes=112i,host_to_vm_mcast=114i,host_to_vm_dropped=116i';

describe('formatStats', () => {
  it("writes albatross-influx's three measurements, in its order, each stamped", () => {
    expect(formatStats('tenant.web', stats(), T)).toEqual({
      lines: [
        `resource_usage,vm=tenant.web ${RESOURCE_USAGE} ${T}`,
        `vmm,vm=tenant.web exits=77i,halt_exits=5i ${T}`,
        `interface,vm=tenant.web,ifname=tap0 ${INTERFACE_100} ${T}`,
      ],
      omissions: [],
    });
  });

  it('writes no vmm line for a VM without hypervisor counters, and a line per tap', () => {
    const { lines } = formatStats('a', stats({ vmm: vmmCounters([]), ifdata: [tap('tap0', 100), tap('tap1', 200)] }), T);
    expect(lines.map((line) => line.split(' ')[0])).toEqual(['resource_usage,vm=a', 'interface,vm=a,ifname=tap0', 'interface,vm=a,ifname=tap1']);
  });

  it('escapes spaces, commas and equals signs in VM, interface and counter names', () => {
    const vmm = vmmCounters([['number of exits, all=kinds', 9n]]);
    const { lines, omissions } = formatStats('tenant.my vm,a=b', stats({ vmm, ifdata: [tap('t 0,=', 100)] }), T);
    expect(omissions).toEqual([]);
    expect(lines[0]).toBe(`resource_usage,vm=tenant.my\\ vm\\,a\\=b ${RESOURCE_USAGE} ${T}`);
    expect(lines[1]).toBe(`vmm,vm=tenant.my\\ vm\\,a\\=b number\\ of\\ exits\\,\\ all\\=kinds=9i ${T}`);
    expect(lines[2]).toBe(`interface,vm=tenant.my\\ vm\\,a\\=b,ifname=t\\ 0\\,\\= ${INTERFACE_100} ${T}`);
  });

  it('keeps quotes, backslashes inside a name and non-ASCII as they are', () => {
    expect(formatStats('"blue"\\web.ü🙂', stats({ ifdata: [] }), T).lines[0]).toMatch(/^resource_usage,vm="blue"\\web\.ü🙂 utime=/);
  });

  it('leaves out, and says so, what line protocol cannot carry', () => {
    expect(formatStats('bad\nname', stats(), T)).toEqual({ lines: [], omissions: [{ kind: 'vm-name', vm: 'bad\nname' }] });
    const vmm = vmmCounters([['ok', 1n], ['trailing\\', 2n], ['huge', 1n << 63n]]);
    const { lines, omissions } = formatStats('a', stats({ vmm, ifdata: [tap('', 100), tap('tap1', 200)] }), T);
    expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      `resource_usage,vm=a ${RESOURCE_USAGE}`,
      'vmm,vm=a ok=1i',
      expect.stringMatching(/^interface,vm=a,ifname=tap1 send_queue_length=201i,/),
    ]);
    expect(omissions).toEqual([
      { kind: 'counter-name', vm: 'a', name: 'trailing\\' },
      { kind: 'out-of-range', vm: 'a', measurement: 'vmm', field: 'huge', value: 1n << 63n },
      { kind: 'interface-name', vm: 'a', name: '' },
    ]);
  });

  it('writes the largest signed 64-bit integer, and drops a line left with no field', () => {
    const max = (1n << 63n) - 1n;
    expect(formatStats('a', stats({ vmm: vmmCounters([['c', max]]) }), T).lines[1]).toBe(`vmm,vm=a c=${max}i ${T}`);
    const { lines, omissions } = formatStats('a', stats({ vmm: vmmCounters([['c', max + 1n]]) }), T);
    expect(lines.map((line) => line.split(',')[0])).toEqual(['resource_usage', 'interface']);
    expect(omissions).toHaveLength(1);
  });
});

describe('formatTimeval', () => {
  it("is albatross-influx's %Lu.%06d for microseconds in range", () => {
    expect(formatTimeval({ sec: 0n, usec: 0 })).toBe('0.000000');
    expect(formatTimeval({ sec: 12n, usec: 345 })).toBe('12.000345');
    expect(formatTimeval({ sec: 18446744073709551615n, usec: 999_999 })).toBe('18446744073709551615.999999');
  });

  it('carries microseconds past a second, or below zero, into the seconds rather than writing another number', () => {
    expect(formatTimeval({ sec: 1n, usec: 2_500_000 })).toBe('3.500000');
    expect(formatTimeval({ sec: 1n, usec: -250_000 })).toBe('0.750000');
    expect(formatTimeval({ sec: 0n, usec: -1 })).toBe('-0.000001');
  });
});

describe('escaping', () => {
  it('escapes exactly the three characters line protocol tags and field keys need', () => {
    expect(escapeKey('a b,c=d"e\\f')).toBe('a\\ b\\,c\\=d"e\\f');
  });

  it('finds what cannot be written', () => {
    expect(unwritableReason('tenant.web')).toBeUndefined();
    expect(unwritableReason('a\\b')).toBeUndefined();
    for (const text of ['', 'a\nb', 'a\rb', 'a\\', 'a\\ b', 'a\\,b', 'a\\=b']) expect(unwritableReason(text), JSON.stringify(text)).toBeDefined();
  });
});
