import type { IfData, Rusage, Stats } from '../../src/wire/messages.js';
import { vmmCounters } from '../../src/wire/index.js';

export interface TapValues {
  name: string;
  packetsIn?: number;
  packetsOut?: number;
  bytesIn?: number;
  bytesOut?: number;
}

function tap(values: TapValues): IfData {
  return {
    name: values.name,
    flags: 0,
    send_length: 0,
    max_send_length: 0,
    send_drops: 0,
    mtu: 1500,
    baudrate: 0n,
    input_packets: BigInt(values.packetsIn ?? 0),
    input_errors: 0n,
    output_packets: BigInt(values.packetsOut ?? 0),
    output_errors: 0n,
    collisions: 0n,
    input_bytes: BigInt(values.bytesIn ?? 0),
    output_bytes: BigInt(values.bytesOut ?? 0),
    input_mcast: 0n,
    output_mcast: 0n,
    input_dropped: 0n,
    output_dropped: 0n,
  };
}

/** A Stats body with the given CPU times (in microseconds), peak RSS (KiB), taps and hypervisor counters; zeros elsewhere. */
export function stats(values: { userUs: number; systemUs?: number; maxrssKiB?: number; taps?: TapValues[]; vmm?: [string, number][] }): Stats {
  const timeval = (us: number) => ({ sec: BigInt(Math.floor(us / 1e6)), usec: us % 1e6 });
  const rusage: Rusage = {
    utime: timeval(values.userUs),
    stime: timeval(values.systemUs ?? 0),
    maxrss: BigInt(values.maxrssKiB ?? 0),
    ixrss: 0n,
    idrss: 0n,
    isrss: 0n,
    minflt: 0n,
    majflt: 0n,
    nswap: 0n,
    inblock: 0n,
    outblock: 0n,
    msgsnd: 0n,
    msgrcv: 0n,
    nsignals: 0n,
    nvcsw: 0n,
    nivcsw: 0n,
  };
  return { rusage, vmm: vmmCounters((values.vmm ?? []).map(([name, value]) => [name, BigInt(value)])), ifdata: (values.taps ?? []).map(tap) };
}
