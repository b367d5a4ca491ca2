// Messages to frames.

import { stringsSize, Writer, type FrameMemory } from './buffer-writer.js';
import { codecsByKind } from './codecs.js';
import { WireError } from './errors.js';
import { HEADER_SIZE, writeHeader } from './header.js';
import type { Message, Stats, VmName } from './messages.js';
import { statsRowsSize, statsSize, writeStats, writeStatsRows, type StatsRows } from './stats.js';
import { Tag } from './tags.js';

/**
 * A whole frame (wire version 2, header id = message.id). Throws WireError, and returns nothing, on a value
 * its field cannot carry: an int that is not a safe integer, a string of 0xFFFF bytes or more, ...
 */
export function encodeMessage(message: Message): Buffer {
  const codec = codecsByKind.get(message.kind);
  if (codec === undefined) throw new WireError('bad_value', `unknown message kind ${JSON.stringify(message.kind)}`);
  const w = new Writer();
  writeHeader(w, codec.tag ?? codec.replyTag!(message), message.id, 0);
  codec.write(w, message);
  return finishFrame(w);
}

/**
 * The daemon's hot path: a Stats Data frame for the VM `name`. Its size is computed first (exact when the
 * strings are ASCII; every string too long for the wire is refused there) and written into one allocation.
 */
export function encodeStatsData(name: VmName, stats: Stats, id = 0n): Buffer {
  return encodeData(name, stats, statsSize, writeStats, id);
}

/**
 * encodeStatsData from the sampler's rows, making no bigint: the same bytes as from the records. The frame
 * is written into `memory` when given (see FrameMemory).
 */
export function encodeStatsDataRows(name: VmName, rows: StatsRows, id = 0n, memory?: FrameMemory): Buffer {
  return encodeData(name, rows, statsRowsSize, writeStatsRows, id, memory);
}

function encodeData<T>(
  name: VmName,
  body: T,
  size: (body: T) => number,
  write: (w: Writer, body: T) => void,
  id: bigint,
  memory?: FrameMemory,
): Buffer {
  const w = new Writer(HEADER_SIZE + stringsSize(name) + size(body), memory);
  writeHeader(w, Tag.StatsData, id, 0);
  w.strings(name);
  write(w, body);
  return finishFrame(w);
}

/** Fills in the header's length, now that the payload is written. */
function finishFrame(w: Writer): Buffer {
  w.patchU32(16, w.length - HEADER_SIZE);
  return w.finish();
}
