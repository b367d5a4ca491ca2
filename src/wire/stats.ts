// The Stats channel: registering a VM's process and taps, subscribing, and the statistics themselves.
// Stats Data is the daemon's hot path: its size is computed beforehand (exactly, for ASCII strings), its
// vmm counters go through vmm-section.ts, and its fixed-size blocks (layouts.ts) are written and read at
// fixed offsets after a single bounds check, by functions made from their layouts (layout-code.ts).

import type { Reader } from './buffer-reader.js';
import { stringSize, type Writer } from './buffer-writer.js';
import { nameOnly, type Codec } from './codec.js';
import { IFDATA_COUNTERS_BYTES, MIN_BYTES, RUSAGE_BYTES } from './constants.js';
import { compileBlockReader, compileBlockWriter, compileRowWriter } from './layout-code.js';
import { IFDATA_LAYOUT, RUSAGE_LAYOUT } from './layouts.js';
import type { IfData, Rusage, Stats, VmmCounters } from './messages.js';
import { Tag } from './tags.js';
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

const putRusage = compileBlockWriter<Rusage>('putRusage', RUSAGE_LAYOUT);
const putIfDataCounters = compileBlockWriter<IfData>('putIfDataCounters', IFDATA_LAYOUT);

function writeRusage(w: Writer, ru: Rusage): void {
  const at = w.block(RUSAGE_BYTES);
  putRusage(w.view, at, ru);
}

function writeIfData(w: Writer, i: IfData): void {
  w.string(i.name);
  const at = w.block(IFDATA_COUNTERS_BYTES);
  putIfDataCounters(w.view, at, i);
}

/**
 * A Stats Data body whose numbers are still where the sampler left them: rows of u64 fields (see
 * u64-words.ts). The process row starts with the scalars of RUSAGE_LAYOUT, in its order; each interface row
 * holds those of IFDATA_LAYOUT, in its order (layouts.ts). Fields are row × fields-per-row + field.
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

const putRusageRow = compileRowWriter('putRusageRow', RUSAGE_LAYOUT);
const putIfDataRow = compileRowWriter('putIfDataRow', IFDATA_LAYOUT);

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
  putRusageRow(w.view, at, processWords, processField);
  writeVmmCounters(w, rows.vmm);
  w.count(tapNames.length);
  for (let tap = 0; tap < tapNames.length; tap++) {
    w.string(tapNames[tap]);
    const o = w.block(IFDATA_COUNTERS_BYTES);
    putIfDataRow(w.view, o, tapWords, tapFields[tap]);
  }
}

/** Rusage, vmm counters, interfaces; bytes after the interfaces are ignored, as the seed ignores them. */
function readStats(r: Reader): Stats {
  const rusage = readRusage(r);
  const vmm = readVmmCounters(r);
  const ifdata = new Array<IfData>(r.count(MIN_BYTES.ifdata));
  for (let i = 0; i < ifdata.length; i++) ifdata[i] = readIfData(r);
  return { rusage, vmm, ifdata };
}

const rusageAt = compileBlockReader<Rusage>('rusageAt', RUSAGE_LAYOUT);
const ifDataAt = compileBlockReader<IfData, [name: string]>('ifDataAt', IFDATA_LAYOUT, ['name']);

function readRusage(r: Reader): Rusage {
  return rusageAt(r, r.take(RUSAGE_BYTES, 'rusage'));
}

function readIfData(r: Reader): IfData {
  const name = r.string();
  return ifDataAt(r, r.take(IFDATA_COUNTERS_BYTES, 'interface counters'), name);
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
