// The vmm counters of a Stats Data body. A hypervisor's counter descriptions are the same from tick to tick
// and from VM to VM, so both ways go through the last section seen:
// - writing: when the descriptions are the last ones (the same array, or the same strings), the last
//   section is copied whole and only the values are written, rather than ~40 strings encoded anew;
// - reading: when the section has the last one's descriptions (compared byte for byte), the last one's
//   frozen descriptions array is the result's, rather than ~40 strings decoded anew.

import type { Reader } from './buffer-reader.js';
import { stringSize, type Writer } from './buffer-writer.js';
import { MIN_BYTES } from './constants.js';
import { WireError } from './errors.js';
import type { VmmCounter, VmmCounters } from './messages.js';
import { copyU64, putU64 } from './u64-words.js';

let lastDescriptions: readonly string[] = Object.freeze([]);
/** Memory for the last section, reused while it fits. */
let memory = new Uint8Array(4096);
/** The last section: count, then description and value pairs. At first, the section of no counters. */
let lastSection = memory.subarray(0, 8);
/** Where each value sits from the start of the last section. */
let lastValueOffsets: number[] = [];

/** Counters from (description, value) pairs; the descriptions are frozen, to be shared. */
export function vmmCounters(pairs: readonly VmmCounter[]): VmmCounters {
  return { descriptions: Object.freeze(pairs.map((pair) => pair[0])), values: pairs.map((pair) => pair[1]) };
}

/** The counters as (description, value) pairs, in order. */
export function vmmPairs(vmm: VmmCounters): VmmCounter[] {
  return vmm.descriptions.map((description, i) => [description, vmm.values[i]!]);
}

/** Encoded size of the section (see stringSize): exactly the last section's when the descriptions are the same. */
export function vmmCountersSize(vmm: VmmCounters): number {
  if (sameDescriptions(vmm)) return lastSection.length;
  const descriptions = vmm.descriptions;
  let size = 8;
  for (let i = 0; i < descriptions.length; i++) size += stringSize(descriptions[i]) + 8;
  return size;
}

export function writeVmmCounters(w: Writer, vmm: VmmCounters): void {
  const { descriptions, values } = vmm;
  if (sameDescriptions(vmm)) {
    const at = w.bytes(lastSection);
    const view = w.view;
    for (let i = 0; i < values.length; i++) putU64(view, at + lastValueOffsets[i], values[i]);
    return;
  }
  const start = w.length;
  const valueOffsets = new Array<number>(values.length);
  w.count(values.length);
  for (let i = 0; i < values.length; i++) {
    w.string(descriptions[i]);
    valueOffsets[i] = w.length - start;
    w.u64(values[i]);
  }
  remember(descriptions, w.writtenSince(start), valueOffsets);
}

/** Whether the section of `vmm` is the last one's but for the values; throws unless it is well formed. */
function sameDescriptions(vmm: VmmCounters): boolean {
  const { descriptions, values } = vmm;
  if (!Array.isArray(descriptions) || !Array.isArray(values) || descriptions.length !== values.length) {
    throw new WireError('bad_value', 'vmm counters need as many values as descriptions');
  }
  if (descriptions === lastDescriptions) return true;
  if (descriptions.length !== lastDescriptions.length) return false;
  for (let i = 0; i < descriptions.length; i++) if (descriptions[i] !== lastDescriptions[i]) return false;
  return true;
}

function remember(descriptions: readonly string[], section: Uint8Array, valueOffsets: number[]): void {
  if (section.length > memory.length) memory = new Uint8Array(2 * section.length);
  memory.set(section);
  lastSection = memory.subarray(0, section.length);
  // A frozen array (a decoded frame's, a sample's) is kept as it is, so that the next frame with it is
  // known by identity; any other may change after this, and is copied.
  lastDescriptions = Object.isFrozen(descriptions) ? descriptions : Object.freeze([...descriptions]);
  lastValueOffsets = valueOffsets;
}

/** A copy of a section read, where its values sit in it, and its descriptions. */
interface ReadSection {
  bytes: Buffer;
  view: DataView;
  valueOffsets: number[];
  descriptions: readonly string[];
}

/** The last non-empty section read. */
let lastRead: ReadSection | undefined;

export function readVmmCounters(r: Reader): VmmCounters {
  return readAsLastSection(r) ?? readSection(r);
}

/**
 * The counters, when the next section has the last one's descriptions; undefined, and nothing claimed,
 * otherwise. The values are read (for the result, which is then only a guess) and copied into the last
 * section's copy, and the two are compared in one call: equal bytes mean the same count, lengths and
 * descriptions, at the same places.
 */
function readAsLastSection(r: Reader): VmmCounters | undefined {
  const known = lastRead;
  if (known === undefined || r.remaining < known.bytes.length) return undefined;
  const { view, valueOffsets, descriptions } = known;
  const data = r.data;
  const at = r.base + r.pos;
  const values = new Array<bigint>(valueOffsets.length);
  for (let i = 0; i < values.length; i++) {
    const offset = valueOffsets[i];
    values[i] = copyU64(data, at + offset, view, offset);
  }
  if (!r.nextBytesAre(known.bytes)) return undefined;
  r.take(known.bytes.length);
  return { descriptions, values };
}

function readSection(r: Reader): VmmCounters {
  const start = r.pos;
  const count = r.count(MIN_BYTES.vmmCounter);
  const descriptions = new Array<string>(count);
  const values = new Array<bigint>(count);
  const valueOffsets = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    descriptions[i] = r.string();
    valueOffsets[i] = r.pos - start;
    values[i] = r.u64();
  }
  Object.freeze(descriptions);
  if (count > 0) {
    const bytes = r.copyOf(start, r.pos);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    lastRead = { bytes, view, valueOffsets, descriptions };
  }
  return { descriptions, values };
}
