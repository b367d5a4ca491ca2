// The Stats channel: registering a VM's process and taps, subscribing, and the statistics themselves.
// Stats Data is the daemon's hot path: its size is computed beforehand (exactly, for ASCII strings), its
// vmm counters go through vmm-section.ts, and its fixed-size blocks are written and read at fixed offsets
// after a single bounds check.

import type { Reader } from './buffer-reader.js';
import { putInt, putU32, stringSize, type Writer } from './buffer-writer.js';
import { nameOnly, type Codec } from './codec.js';
import { IFDATA_COUNTERS_BYTES, MIN_BYTES, RUSAGE_BYTES } from './constants.js';
import type { IfData, Rusage, Stats, VmmCounters } from './messages.js';
import { Tag } from './tags.js';
import { getU64, lowWord, putU64, putU64Word } from './u64-words.js';
import { readVmmCounters, vmmCountersSize, writeVmmCounters, type LastWrittenSection } from './vmm-section.js';

/** Encoded size of a Stats Data body (see stringSize: exact for ASCII strings, a lower bound otherwise). */
export function statsSize(stats: Stats, lastSection: LastWrittenSection | undefined): number {
  const ifdata = stats.ifdata;
  let size = RUSAGE_BYTES + vmmCountersSize(stats.vmm, lastSection) + 8;
  for (let i = 0; i < ifdata.length; i++) size += stringSize(ifdata[i].name) + IFDATA_COUNTERS_BYTES;
  return size;
}

export function writeStats(w: Writer, stats: Stats): void {
  const { vmm, ifdata } = stats;
  writeRusage(w, stats.rusage);
  writeVmmCounters(w, vmm);
  w.count(ifdata.length);
  for (let i = 0; i < ifdata.length; i++) writeIfData(w, ifdata[i]);
}

function writeRusage(w: Writer, ru: Rusage): void {
  const at = w.block(RUSAGE_BYTES);
  const view = w.view;
  putU64(view, at, ru.utime.sec);
  putInt(view, at + 8, ru.utime.usec);
  putU64(view, at + 16, ru.stime.sec);
  putInt(view, at + 24, ru.stime.usec);
  putU64(view, at + 32, ru.maxrss);
  putU64(view, at + 40, ru.ixrss);
  putU64(view, at + 48, ru.idrss);
  putU64(view, at + 56, ru.isrss);
  putU64(view, at + 64, ru.minflt);
  putU64(view, at + 72, ru.majflt);
  putU64(view, at + 80, ru.nswap);
  putU64(view, at + 88, ru.inblock);
  putU64(view, at + 96, ru.outblock);
  putU64(view, at + 104, ru.msgsnd);
  putU64(view, at + 112, ru.msgrcv);
  putU64(view, at + 120, ru.nsignals);
  putU64(view, at + 128, ru.nvcsw);
  putU64(view, at + 136, ru.nivcsw);
}

function writeIfData(w: Writer, i: IfData): void {
  w.string(i.name);
  const at = w.block(IFDATA_COUNTERS_BYTES);
  const view = w.view;
  putU32(view, at, i.flags);
  putU32(view, at + 4, i.send_length);
  putU32(view, at + 8, i.max_send_length);
  putU32(view, at + 12, i.send_drops);
  putU32(view, at + 16, i.mtu);
  putU64(view, at + 20, i.baudrate);
  putU64(view, at + 28, i.input_packets);
  putU64(view, at + 36, i.input_errors);
  putU64(view, at + 44, i.output_packets);
  putU64(view, at + 52, i.output_errors);
  putU64(view, at + 60, i.collisions);
  putU64(view, at + 68, i.input_bytes);
  putU64(view, at + 76, i.output_bytes);
  putU64(view, at + 84, i.input_mcast);
  putU64(view, at + 92, i.output_mcast);
  putU64(view, at + 100, i.input_dropped);
  putU64(view, at + 108, i.output_dropped);
}

/**
 * A Stats Data body whose numbers are still where the sampler left them: rows of u64 fields (see
 * u64-words.ts). The process row starts with the wire's 18 rusage fields, in its order; each interface row
 * holds the wire's 17 ifdata counters, in its order. Fields are row × fields-per-row + field.
 */
export interface StatsRows {
  readonly processWords: Uint32Array;
  readonly processField: number;
  readonly vmm: VmmCounters;
  readonly tapNames: readonly string[];
  readonly tapWords: Uint32Array;
  /** The first field of each tap's row. */
  readonly tapFields: readonly number[];
}

const RUSAGE_FIELDS = RUSAGE_BYTES / 8;
const IFDATA_U32_FIELDS = 5;
const IFDATA_U64_FIELDS = 12;

/** Encoded size of a Stats Data body from rows (see statsSize). */
export function statsRowsSize(rows: StatsRows, lastSection: LastWrittenSection | undefined): number {
  const names = rows.tapNames;
  let size = RUSAGE_BYTES + vmmCountersSize(rows.vmm, lastSection) + 8;
  for (let i = 0; i < names.length; i++) size += stringSize(names[i]) + IFDATA_COUNTERS_BYTES;
  return size;
}

export function writeStatsRows(w: Writer, rows: StatsRows): void {
  const { processWords, processField, tapNames, tapWords, tapFields } = rows;
  const at = w.block(RUSAGE_BYTES);
  for (let i = 0; i < RUSAGE_FIELDS; i++) putU64Word(w.view, at + 8 * i, processWords, processField + i);
  writeVmmCounters(w, rows.vmm);
  w.count(tapNames.length);
  for (let tap = 0; tap < tapNames.length; tap++) {
    w.string(tapNames[tap]);
    const o = w.block(IFDATA_COUNTERS_BYTES);
    const view = w.view;
    const field = tapFields[tap];
    for (let i = 0; i < IFDATA_U32_FIELDS; i++) view.setUint32(o + 4 * i, lowWord(tapWords, field + i));
    for (let i = 0; i < IFDATA_U64_FIELDS; i++) {
      putU64Word(view, o + 4 * IFDATA_U32_FIELDS + 8 * i, tapWords, field + IFDATA_U32_FIELDS + i);
    }
  }
}

/** Rusage, vmm counters, interfaces; bytes after the interfaces are ignored, as the seed ignores them. */
export function readStats(r: Reader): Stats {
  const rusage = readRusage(r);
  const vmm = readVmmCounters(r);
  const ifdata = new Array<IfData>(r.count(MIN_BYTES.ifdata));
  for (let i = 0; i < ifdata.length; i++) ifdata[i] = readIfData(r);
  return { rusage, vmm, ifdata };
}

function readRusage(r: Reader): Rusage {
  const at = r.take(RUSAGE_BYTES, 'rusage');
  const view = r.data;
  const o = r.base + at;
  return {
    utime: { sec: getU64(view, o), usec: r.intAt(at + 8) },
    stime: { sec: getU64(view, o + 16), usec: r.intAt(at + 24) },
    maxrss: getU64(view, o + 32),
    ixrss: getU64(view, o + 40),
    idrss: getU64(view, o + 48),
    isrss: getU64(view, o + 56),
    minflt: getU64(view, o + 64),
    majflt: getU64(view, o + 72),
    nswap: getU64(view, o + 80),
    inblock: getU64(view, o + 88),
    outblock: getU64(view, o + 96),
    msgsnd: getU64(view, o + 104),
    msgrcv: getU64(view, o + 112),
    nsignals: getU64(view, o + 120),
    nvcsw: getU64(view, o + 128),
    nivcsw: getU64(view, o + 136),
  };
}

function readIfData(r: Reader): IfData {
  const name = r.string();
  const view = r.data;
  const o = r.base + r.take(IFDATA_COUNTERS_BYTES, 'interface counters');
  return {
    name,
    flags: view.getUint32(o),
    send_length: view.getUint32(o + 4),
    max_send_length: view.getUint32(o + 8),
    send_drops: view.getUint32(o + 12),
    mtu: view.getUint32(o + 16),
    baudrate: getU64(view, o + 20),
    input_packets: getU64(view, o + 28),
    input_errors: getU64(view, o + 36),
    output_packets: getU64(view, o + 44),
    output_errors: getU64(view, o + 52),
    collisions: getU64(view, o + 60),
    input_bytes: getU64(view, o + 68),
    output_bytes: getU64(view, o + 76),
    input_mcast: getU64(view, o + 84),
    output_mcast: getU64(view, o + 92),
    input_dropped: getU64(view, o + 100),
    output_dropped: getU64(view, o + 108),
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

export const statsCodecs = [
  add,
  nameOnly('stats.remove', Tag.StatsRemove),
  nameOnly('stats.subscribe', Tag.StatsSubscribe),
  data,
] as const;
