// The vmm counters of a Stats Data body, written through a copy of the last such section: a hypervisor's
// counter descriptions are the same from tick to tick and from VM to VM, so when they match the last ones,
// the section is copied whole and only the values are written, rather than ~40 strings encoded anew.
// Descriptions are compared as strings (===), so any change in them means a section written from scratch.

import { stringSize, type Writer } from './buffer-writer.js';
import type { VmmCounter } from './messages.js';
import { putU64 } from './u64-words.js';

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

