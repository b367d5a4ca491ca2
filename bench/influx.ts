// What `vmm-stats influx` costs: CPU per Data frame turned into line protocol, and the memory a full point
// buffer (the default --max-buffered) holds while InfluxDB is away, for frames like a KVM host's: a VM
// with 20 hypervisor counters and one tap.
//   npm run bench:influx
import { formatStats } from '../src/influx/line-protocol.js';
import { PointBuffer } from '../src/influx/point-buffer.js';
import { vmmCounters } from '../src/wire/index.js';
import type { IfData, Stats } from '../src/wire/messages.js';

const VMS = 1000;
const FRAMES = 200_000;
const DEFAULT_MAX_BUFFERED = 50_000;
const KVM_COUNTERS = [
  'exits', 'halt_exits', 'io_exits', 'mmio_exits', 'irq_exits', 'signal_exits', 'request_irq_exits', 'host_state_reload',
  'fpu_reload', 'insn_emulation', 'irq_injections', 'nmi_injections', 'halt_successful_poll', 'halt_attempted_poll',
  'halt_wakeup', 'pf_fixed', 'pf_guest', 'tlb_flush', 'invlpg', 'hypercalls',
];

function tap(vm: number): IfData {
  return {
    name: `tap${vm}`, flags: 0x8843, send_length: 0, max_send_length: 1000, send_drops: 0, mtu: 1500, baudrate: 10_000_000n,
    input_packets: 123_456_789n, input_errors: 0n, output_packets: 987_654_321n, output_errors: 0n, collisions: 0n,
    input_bytes: 123_456_789_012n, output_bytes: 98_765_432_101n, input_mcast: 0n, output_mcast: 0n, input_dropped: 12n, output_dropped: 3n,
  };
}

function stats(vm: number): Stats {
  return {
    rusage: {
      utime: { sec: 12_345n + BigInt(vm), usec: 678_901 }, stime: { sec: 2345n, usec: 12 }, maxrss: 524_288n, ixrss: 0n, idrss: 0n,
      isrss: 0n, minflt: 123_456n, majflt: 12n, nswap: 0n, inblock: 1000n, outblock: 2000n, msgsnd: 0n, msgrcv: 0n, nsignals: 0n,
      nvcsw: 1_234_567n, nivcsw: 12_345n,
    },
    vmm: vmmCounters(KVM_COUNTERS.map((name, i) => [name, BigInt(1_000_000 * i + vm)])),
    ifdata: [tap(vm)],
  };
}

const frames = Array.from({ length: VMS }, (_, vm) => ({ name: `tenant${vm % 50}.vm${vm}`, stats: stats(vm) }));
const now = BigInt(Date.now()) * 1_000_000n;
const format = (i: number) => formatStats(frames[i % VMS]!.name, frames[i % VMS]!.stats, now + BigInt(i));

for (let i = 0; i < 20_000; i++) format(i); // warm up
const started = process.hrtime.bigint();
let lines = 0;
let bytes = 0;
for (let i = 0; i < FRAMES; i++) {
  for (const line of format(i).lines) {
    lines += 1;
    bytes += line.length;
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;

const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const buffer = new PointBuffer(DEFAULT_MAX_BUFFERED);
for (let i = 0; buffer.dropped === 0; i++) buffer.push(format(i).lines);
gc?.();
const heapAfter = process.memoryUsage().heapUsed;

console.log(`formatting: ${FRAMES} frames (${lines} lines, ${(bytes / lines).toFixed(0)} bytes each) in ${seconds.toFixed(2)} s: ` +
  `${(FRAMES / seconds).toFixed(0)} frames/s, ${((seconds / FRAMES) * 1e6).toFixed(1)} µs a frame`);
console.log(`a full buffer: ${buffer.size} points, ${((heapAfter - heapBefore) / 2 ** 20).toFixed(1)} MiB of heap, ` +
  `${((heapAfter - heapBefore) / buffer.size).toFixed(0)} bytes a point${gc === undefined ? ' (without --expose-gc: rough)' : ''}`);
