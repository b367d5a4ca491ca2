// The Stats channel: registering a VM's process and taps, subscribing, and the statistics themselves.
// Stats Data is the daemon's hot path: its size is computed exactly beforehand and its fixed-size blocks
// are read at fixed offsets after a single bounds check.

import type { Reader } from './buffer-reader.js';
import { stringSize, stringsSize, type Writer } from './buffer-writer.js';
import { nameOnly, type Codec } from './codec.js';
import { IFDATA_COUNTERS_BYTES, MIN_BYTES, RUSAGE_BYTES } from './constants.js';
import type { IfData, Rusage, Stats, VmmCounter } from './messages.js';
import { Tag } from './tags.js';

/** Encoded size of a Stats Data body (see stringSize: exact for ASCII strings, a lower bound otherwise). */
export function statsSize(stats: Stats): number {
  // Indexed loops: destructuring a tuple in a for-of goes through the array iterator, measurably slower here.
  const { vmm, ifdata } = stats;
  let size = RUSAGE_BYTES + 8 + 8;
  for (let i = 0; i < vmm.length; i++) size += stringSize(vmm[i][0]) + 8;
  for (let i = 0; i < ifdata.length; i++) size += stringSize(ifdata[i].name) + IFDATA_COUNTERS_BYTES;
  return size;
}

export function writeStats(w: Writer, stats: Stats): void {
  const { vmm, ifdata } = stats;
  writeRusage(w, stats.rusage);
  w.count(vmm.length);
  for (let i = 0; i < vmm.length; i++) {
    const counter = vmm[i];
    w.recurringString(counter[0]);
    w.u64(counter[1]);
  }
  w.count(ifdata.length);
  for (let i = 0; i < ifdata.length; i++) writeIfData(w, ifdata[i]);
}

function writeRusage(w: Writer, ru: Rusage): void {
  w.u64(ru.utime.sec);
  w.int(ru.utime.usec);
  w.u64(ru.stime.sec);
  w.int(ru.stime.usec);
  w.u64(ru.maxrss);
  w.u64(ru.ixrss);
  w.u64(ru.idrss);
  w.u64(ru.isrss);
  w.u64(ru.minflt);
  w.u64(ru.majflt);
  w.u64(ru.nswap);
  w.u64(ru.inblock);
  w.u64(ru.outblock);
  w.u64(ru.msgsnd);
  w.u64(ru.msgrcv);
  w.u64(ru.nsignals);
  w.u64(ru.nvcsw);
  w.u64(ru.nivcsw);
}

function writeIfData(w: Writer, i: IfData): void {
  w.recurringString(i.name);
  w.u32(i.flags);
  w.u32(i.send_length);
  w.u32(i.max_send_length);
  w.u32(i.send_drops);
  w.u32(i.mtu);
  w.u64(i.baudrate);
  w.u64(i.input_packets);
  w.u64(i.input_errors);
  w.u64(i.output_packets);
  w.u64(i.output_errors);
  w.u64(i.collisions);
  w.u64(i.input_bytes);
  w.u64(i.output_bytes);
  w.u64(i.input_mcast);
  w.u64(i.output_mcast);
  w.u64(i.input_dropped);
  w.u64(i.output_dropped);
}

/** Rusage, vmm counters, interfaces; bytes after the interfaces are ignored, as the seed ignores them. */
export function readStats(r: Reader): Stats {
  const rusage = readRusage(r);
  const vmm = new Array<VmmCounter>(r.count(MIN_BYTES.vmmCounter));
  for (let i = 0; i < vmm.length; i++) vmm[i] = [r.string(), r.u64()];
  const ifdata = new Array<IfData>(r.count(MIN_BYTES.ifdata));
  for (let i = 0; i < ifdata.length; i++) ifdata[i] = readIfData(r);
  return { rusage, vmm, ifdata };
}

function readRusage(r: Reader): Rusage {
  const at = r.take(RUSAGE_BYTES, 'rusage');
  return {
    utime: { sec: r.u64At(at), usec: r.intAt(at + 8) },
    stime: { sec: r.u64At(at + 16), usec: r.intAt(at + 24) },
    maxrss: r.u64At(at + 32),
    ixrss: r.u64At(at + 40),
    idrss: r.u64At(at + 48),
    isrss: r.u64At(at + 56),
    minflt: r.u64At(at + 64),
    majflt: r.u64At(at + 72),
    nswap: r.u64At(at + 80),
    inblock: r.u64At(at + 88),
    outblock: r.u64At(at + 96),
    msgsnd: r.u64At(at + 104),
    msgrcv: r.u64At(at + 112),
    nsignals: r.u64At(at + 120),
    nvcsw: r.u64At(at + 128),
    nivcsw: r.u64At(at + 136),
  };
}

function readIfData(r: Reader): IfData {
  const name = r.string();
  const at = r.take(IFDATA_COUNTERS_BYTES, 'interface counters');
  return {
    name,
    flags: r.u32At(at),
    send_length: r.u32At(at + 4),
    max_send_length: r.u32At(at + 8),
    send_drops: r.u32At(at + 12),
    mtu: r.u32At(at + 16),
    baudrate: r.u64At(at + 20),
    input_packets: r.u64At(at + 28),
    input_errors: r.u64At(at + 36),
    output_packets: r.u64At(at + 44),
    output_errors: r.u64At(at + 52),
    collisions: r.u64At(at + 60),
    input_bytes: r.u64At(at + 68),
    output_bytes: r.u64At(at + 76),
    input_mcast: r.u64At(at + 84),
    output_mcast: r.u64At(at + 92),
    input_dropped: r.u64At(at + 100),
    output_dropped: r.u64At(at + 108),
  };
}

const add: Codec<'stats.add'> = {
  kind: 'stats.add',
  tag: Tag.StatsAdd,
  write(w, message) {
    w.strings(message.name);
    w.int(message.pid);
    w.strings(message.taps);
  },
  read(r, header) {
    // Property initialisers run in source order, which is the wire order.
    return { kind: 'stats.add', id: header.id, name: r.strings(), pid: r.int(), taps: r.strings() };
  },
};

const data: Codec<'stats.data'> = {
  kind: 'stats.data',
  tag: Tag.StatsData,
  write(w, message) {
    w.strings(message.name);
    writeStats(w, message.stats);
  },
  read(r, header) {
    return { kind: 'stats.data', id: header.id, name: r.strings(), stats: readStats(r) };
  },
};

/** Encoded size of a Stats Data payload, name and body, as statsSize counts. */
export function statsDataPayloadSize(name: readonly string[], stats: Stats): number {
  return stringsSize(name) + statsSize(stats);
}

export const statsCodecs = [
  add,
  nameOnly('stats.remove', Tag.StatsRemove),
  nameOnly('stats.subscribe', Tag.StatsSubscribe),
  data,
] as const;
