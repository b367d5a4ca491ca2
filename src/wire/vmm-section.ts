// The vmm counters of a Stats Data body. A hypervisor's counter descriptions are the same from tick to tick
// and from VM to VM, so both ways go through the last section seen:
// - writing: when the descriptions are the last ones (compared as strings, ===), the last section is copied
//   whole and only the values are written, rather than ~40 strings encoded anew;
// - reading: when the section has the last one's descriptions (compared byte for byte), their strings are
//   reused rather than decoded, which spares most of a frame's strings.

import type { Reader } from './buffer-reader.js';
import { stringSize, type Writer } from './buffer-writer.js';
import { MIN_BYTES } from './constants.js';
import type { VmmCounter } from './messages.js';
import { copyU64, putU64 } from './u64-words.js';

let lastDescriptions: string[] = [];
/** Memory for the last section, reused while it fits. */
let memory = new Uint8Array(4096);
/** The last section: count, then description and value pairs. At first, the section of no counters. */
let lastSection = memory.subarray(0, 8);
/** Where each value sits from the start of the last section. */
let lastValueOffsets: number[] = [];

/** Encoded size of the section (see stringSize): exactly the last section's when the descriptions are the same. */
export function vmmCountersSize(vmm: readonly VmmCounter[]): number {
  if (sameDescriptions(vmm)) return lastSection.length;
  // Indexed loops: destructuring a tuple in a for-of goes through the array iterator, measurably slower here.
  let size = 8;
  for (let i = 0; i < vmm.length; i++) size += stringSize(vmm[i][0]) + 8;
  return size;
}

export function writeVmmCounters(w: Writer, vmm: readonly VmmCounter[]): void {
  if (sameDescriptions(vmm)) {
    const at = w.bytes(lastSection);
    const view = w.view;
    for (let i = 0; i < vmm.length; i++) putU64(view, at + lastValueOffsets[i], vmm[i][1]);
    return;
  }
  const start = w.length;
  const valueOffsets = new Array<number>(vmm.length);
  w.count(vmm.length);
  for (let i = 0; i < vmm.length; i++) {
    w.string(vmm[i][0]);
    valueOffsets[i] = w.length - start;
    w.u64(vmm[i][1]);
  }
  remember(vmm, w.writtenSince(start), valueOffsets);
}

function sameDescriptions(vmm: readonly VmmCounter[]): boolean {
  if (vmm.length !== lastDescriptions.length) return false;
  for (let i = 0; i < vmm.length; i++) if (vmm[i][0] !== lastDescriptions[i]) return false;
  return true;
}

function remember(vmm: readonly VmmCounter[], section: Uint8Array, valueOffsets: number[]): void {
  if (section.length > memory.length) memory = new Uint8Array(2 * section.length);
  memory.set(section);
  lastSection = memory.subarray(0, section.length);
  lastDescriptions = vmm.map((counter) => counter[0]);
  lastValueOffsets = valueOffsets;
}


/** A copy of a section read, where its values sit in it, and its descriptions. */
interface ReadSection {
  bytes: Buffer;
  view: DataView;
  valueOffsets: number[];
  descriptions: string[];
}

/** The last non-empty section read. */
let lastRead: ReadSection | undefined;

export function readVmmCounters(r: Reader): VmmCounter[] {
  return readAsLastSection(r) ?? readSection(r);
}

/**
 * The counters, when the next section has the last one's descriptions; undefined, and nothing claimed,
 * otherwise. The values are read (for the result, which is then only a guess) and copied into the last
 * section's copy, and the two are compared in one call: equal bytes mean the same count, lengths and
 * descriptions, at the same places.
 */
function readAsLastSection(r: Reader): VmmCounter[] | undefined {
  const known = lastRead;
  if (known === undefined || r.remaining < known.bytes.length) return undefined;
  const { view, valueOffsets, descriptions } = known;
  const data = r.data;
  const at = r.base + r.pos;
  const counters = new Array<VmmCounter>(descriptions.length);
  for (let i = 0; i < counters.length; i++) {
    const offset = valueOffsets[i];
    counters[i] = [descriptions[i], copyU64(data, at + offset, view, offset)];
  }
  if (!r.nextBytesAre(known.bytes)) return undefined;
  r.take(known.bytes.length);
  return counters;
}

function readSection(r: Reader): VmmCounter[] {
  const start = r.pos;
  const counters = new Array<VmmCounter>(r.count(MIN_BYTES.vmmCounter));
  const valueOffsets = new Array<number>(counters.length);
  for (let i = 0; i < counters.length; i++) {
    const description = r.string();
    valueOffsets[i] = r.pos - start;
    counters[i] = [description, r.u64()];
  }
  if (counters.length > 0) {
    const bytes = r.copyOf(start, r.pos);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    lastRead = { bytes, view, valueOffsets, descriptions: counters.map((counter) => counter[0]) };
  }
  return counters;
}
