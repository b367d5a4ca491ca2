// The vmm counters of a Stats Data body. A hypervisor's counter descriptions are the same from tick to tick
// and from VM to VM, so an Encoder and a Decoder each keep the last section they met (their own, so that
// two of them never change each other's results or cost):
// - writing (LastWrittenSection): when the descriptions are the last ones (the same array, or the same
//   strings), the last section is copied whole and only the values are written, rather than ~40 strings
//   encoded anew;
// - reading (LastReadSection): when the section has the last one's descriptions (compared byte for byte),
//   the last one's frozen descriptions array is the result's, rather than ~40 strings decoded anew.
// Without one (encodeMessage, decodeFrame), a section is written and read in full.

import type { Reader, SectionReader } from './buffer-reader.js';
import { stringSize, type SectionWriter, type Writer } from './buffer-writer.js';
import { MIN_BYTES } from './constants.js';
import { WireError } from './errors.js';
import type { VmmCounter, VmmCounters } from './messages.js';
import { copyU64, putU64 } from './u64-words.js';

/** Counters from (description, value) pairs; the descriptions are frozen, to be shared. */
export function vmmCounters(pairs: readonly VmmCounter[]): VmmCounters {
  return { descriptions: Object.freeze(pairs.map((pair) => pair[0])), values: pairs.map((pair) => pair[1]) };
}

/** The counters as (description, value) pairs, in order. */
export function vmmPairs(vmm: VmmCounters): VmmCounter[] {
  return vmm.descriptions.map((description, i) => [description, vmm.values[i]!]);
}

/** Encoded size of the section (see stringSize): exactly `last`'s when the descriptions are the same. */
export function vmmCountersSize(vmm: VmmCounters, last: SectionWriter | undefined): number {
  if (last !== undefined) return last.size(vmm);
  checkCounters(vmm);
  return sectionSize(vmm.descriptions);
}

export function writeVmmCounters(w: Writer, vmm: VmmCounters): void {
  const last = w.lastSection;
  if (last !== undefined) {
    last.write(w, vmm);
  } else {
    checkCounters(vmm);
    writeSection(w, vmm);
  }
}

export function readVmmCounters(r: Reader): VmmCounters {
  const last = r.lastSection;
  return last === undefined ? readSection(r) : last.read(r);
}

function checkCounters(vmm: VmmCounters): void {
  const { descriptions, values } = vmm;
  if (!Array.isArray(descriptions) || !Array.isArray(values) || descriptions.length !== values.length) {
    throw new WireError('bad_value', 'vmm counters need as many values as descriptions');
  }
}

function sectionSize(descriptions: readonly string[]): number {
  let size = 8;
  for (let i = 0; i < descriptions.length; i++) size += stringSize(descriptions[i]) + 8;
  return size;
}

/** Writes the section in full; returns where each value sits from its start. */
function writeSection(w: Writer, vmm: VmmCounters): number[] {
  const { descriptions, values } = vmm;
  const start = w.length;
  const valueOffsets = new Array<number>(values.length);
  w.count(values.length);
  for (let i = 0; i < values.length; i++) {
    w.string(descriptions[i]);
    valueOffsets[i] = w.length - start;
    w.u64(values[i]);
  }
  return valueOffsets;
}

/** The last section an Encoder wrote. At first, the section of no counters. */
export class LastWrittenSection implements SectionWriter {
  #descriptions: readonly string[] = Object.freeze([]);
  /** Memory for the last section, reused while it fits. */
  #memory = new Uint8Array(4096);
  /** The last section: count, then description and value pairs. */
  #section = this.#memory.subarray(0, 8);
  /** Where each value sits from the start of the last section. */
  #valueOffsets: number[] = [];

  size(vmm: VmmCounters): number {
    return this.#sameDescriptions(vmm) ? this.#section.length : sectionSize(vmm.descriptions);
  }

  write(w: Writer, vmm: VmmCounters): void {
    if (this.#sameDescriptions(vmm)) {
      const values = vmm.values;
      const valueOffsets = this.#valueOffsets;
      const at = w.bytes(this.#section);
      const view = w.view;
      for (let i = 0; i < values.length; i++) putU64(view, at + valueOffsets[i], values[i]);
      return;
    }
    const start = w.length;
    const valueOffsets = writeSection(w, vmm);
    this.#remember(vmm.descriptions, w.writtenSince(start), valueOffsets);
  }

  /** Whether the section of `vmm` is the last one's but for the values; throws unless it is well formed. */
  #sameDescriptions(vmm: VmmCounters): boolean {
    checkCounters(vmm);
    const descriptions = vmm.descriptions;
    const last = this.#descriptions;
    if (descriptions === last) return true;
    if (descriptions.length !== last.length) return false;
    for (let i = 0; i < descriptions.length; i++) if (descriptions[i] !== last[i]) return false;
    return true;
  }

  #remember(descriptions: readonly string[], section: Uint8Array, valueOffsets: number[]): void {
    if (section.length > this.#memory.length) this.#memory = new Uint8Array(2 * section.length);
    this.#memory.set(section);
    this.#section = this.#memory.subarray(0, section.length);
    // A frozen array (a decoded frame's, a sample's) is kept as it is, so that the next frame with it is
    // known by identity; any other may change after this, and is copied.
    this.#descriptions = Object.isFrozen(descriptions) ? descriptions : Object.freeze([...descriptions]);
    this.#valueOffsets = valueOffsets;
  }
}

/** A copy of a section read, where its values sit in it, and its descriptions. */
interface ReadSection {
  bytes: Buffer;
  view: DataView;
  valueOffsets: number[];
  descriptions: readonly string[];
}

/** The last non-empty section a Decoder read. */
export class LastReadSection implements SectionReader {
  #last: ReadSection | undefined;

  read(r: Reader): VmmCounters {
    return this.#readAsLast(r) ?? this.#readAndRemember(r);
  }

  /**
   * The counters, when the next section has the last one's descriptions; undefined, and nothing claimed,
   * otherwise. The values are read (for the result, which is then only a guess) and copied into the last
   * section's copy, and the two are compared in one call: equal bytes mean the same count, lengths and
   * descriptions, at the same places.
   */
  #readAsLast(r: Reader): VmmCounters | undefined {
    const known = this.#last;
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

  #readAndRemember(r: Reader): VmmCounters {
    const start = r.pos;
    const valueOffsets: number[] = [];
    const counters = readSection(r, valueOffsets);
    if (valueOffsets.length > 0) {
      const bytes = r.copyOf(start, r.pos);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      this.#last = { bytes, view, valueOffsets, descriptions: counters.descriptions };
    }
    return counters;
  }
}

/** Reads the section in full; where each value sits from its start goes to `valueOffsets` when given. */
function readSection(r: Reader, valueOffsets?: number[]): VmmCounters {
  const start = r.pos;
  const count = r.count(MIN_BYTES.vmmCounter);
  const descriptions = new Array<string>(count);
  const values = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    descriptions[i] = r.string();
    valueOffsets?.push(r.pos - start);
    values[i] = r.u64();
  }
  Object.freeze(descriptions);
  return { descriptions, values };
}
