// The vmm counters of a Stats Data body, written and read through a copy of the last such section: a
// hypervisor's counter descriptions are the same from tick to tick and from VM to VM. When they match the
// last ones, the writer copies the section whole and writes only the values, and the reader gives back the
// last descriptions rather than decoding ~40 strings anew. The writer compares descriptions as strings
// (===), the reader compares their bytes: a description that differs in any way is encoded or decoded anew.

import type { Reader } from './buffer-reader.js';
import type { Writer } from './buffer-writer.js';
import { MIN_BYTES } from './constants.js';
import type { VmmCounter } from './messages.js';
import { getU64, putU64 } from './u64-words.js';

let lastDescriptions: string[] = [];
/** Memory for the last section, reused while it fits. */
let memory = new Uint8Array(4096);
/** The last section: count, then description and value pairs. At first, the section of no counters. */
let lastSection = memory.subarray(0, 8);
/** Where each value sits from the start of the last section. */
let lastValueOffsets: number[] = [];

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

/** The descriptions of the last section read, and where each one's bytes are in a copy of that section. */
let readDescriptions: string[] = [];
let readSection = new DataView(new ArrayBuffer(0));
let readStarts: number[] = [];

export function readVmmCounters(r: Reader): VmmCounter[] {
  const vmm = new Array<VmmCounter>(r.count(MIN_BYTES.vmmCounter));
  const sectionStart = r.pos;
  const known = Math.min(vmm.length, readDescriptions.length);
  let missed = false;
  for (let i = 0; i < vmm.length; i++) {
    const length = r.u16();
    const at = r.pos;
    if (r.end - at < length + 8) {
      // Truncated: the reads one at a time say where.
      r.take(length, 'a string');
      r.u64();
    }
    r.pos = at + length + 8;
    let description: string;
    if (i < known && sameBytes(r, at, length, readStarts[i])) {
      description = readDescriptions[i];
    } else {
      description = r.textAt(at, at + length);
      missed = true;
    }
    vmm[i] = [description, getU64(r.data, r.base + at + length)];
  }
  if (missed) rememberRead(r, sectionStart, vmm);
  return vmm;
}

/** Whether input[at, at + length) holds the bytes of the remembered description starting at `start`. */
function sameBytes(r: Reader, at: number, length: number, start: number): boolean {
  if (readSection.getUint16(start - 2) !== length) return false;
  const input = r.data;
  const from = r.base + at;
  let i = 0;
  for (; i + 4 <= length; i += 4) if (input.getUint32(from + i) !== readSection.getUint32(start + i)) return false;
  for (; i < length; i++) if (input.getUint8(from + i) !== readSection.getUint8(start + i)) return false;
  return true;
}

function rememberRead(r: Reader, sectionStart: number, vmm: VmmCounter[]): void {
  const copy = new Uint8Array(r.pos - sectionStart);
  copy.set(new Uint8Array(r.data.buffer, r.base + sectionStart, copy.length));
  readSection = new DataView(copy.buffer);
  readDescriptions = vmm.map((counter) => counter[0]);
  readStarts = new Array<number>(vmm.length);
  let start = 2;
  for (let i = 0; i < vmm.length; i++) {
    readStarts[i] = start;
    start += readSection.getUint16(start - 2) + 8 + 2;
  }
}
