// Messages to frames: one at a time with the plain functions, or many with an Encoder.

import { FrameMemory, stringsSize, Writer } from './buffer-writer.js';
import { codecsByKind } from './codecs.js';
import { WireError } from './errors.js';
import { HEADER_SIZE, writeHeader } from './header.js';
import type { Message, Stats, VmName } from './messages.js';
import { statsRowsSize, statsSize, writeStats, writeStatsRows, type StatsRows } from './stats.js';
import { Tag } from './tags.js';
import { LastWrittenSection } from './vmm-section.js';

/**
 * Encodes frame after frame for one owner (a daemon, a connection, a command): its frames are carved from
 * its own slabs (`memory`), and a Stats Data frame whose vmm counters have the descriptions of the last one
 * it wrote copies that section rather than encoding it anew. Nothing is shared between two Encoders.
 */
export class Encoder {
  /**
   * Where the frames go. An owner that knows when its frames are all sent may reset() it, or give the
   * Encoder new memory while the old is still in use.
   */
  memory: FrameMemory;
  readonly #lastSection = new LastWrittenSection();

  constructor(memory = new FrameMemory()) {
    this.memory = memory;
  }

  /** encodeMessage, into this Encoder's memory. */
  encodeMessage(message: Message): Buffer {
    return encodeWith(message, new Writer(256, this.memory, this.#lastSection));
  }

  /** encodeStatsData, into this Encoder's memory. */
  encodeStatsData(name: VmName, stats: Stats, id = 0n): Buffer {
    return encodeData(name, stats, statsSize, writeStats, id, this.memory, this.#lastSection);
  }

  /** encodeStatsDataRows, into this Encoder's memory. */
  encodeStatsDataRows(name: VmName, rows: StatsRows, id = 0n): Buffer {
    return encodeData(name, rows, statsRowsSize, writeStatsRows, id, this.memory, this.#lastSection);
  }
}

/**
 * A whole frame (wire version 2, header id = message.id), in memory of its own. Throws WireError, and
 * returns nothing, on a value its field cannot carry: an int that is not a safe integer, a string of 0xFFFF
 * bytes or more, ...
 */
export function encodeMessage(message: Message): Buffer {
  return encodeWith(message, new Writer());
}

function encodeWith(message: Message, w: Writer): Buffer {
  const codec = codecsByKind.get(message.kind);
  if (codec === undefined) throw new WireError('bad_value', `unknown message kind ${JSON.stringify(message.kind)}`);
  writeHeader(w, codec.tag ?? codec.replyTag!(message), message.id, 0);
  codec.write(w, message);
  return finishFrame(w);
}

/**
 * A Stats Data frame for the VM `name`. Its size is computed first (exact when the strings are ASCII; every
 * string too long for the wire is refused there) and written into one allocation.
 */
export function encodeStatsData(name: VmName, stats: Stats, id = 0n): Buffer {
  return encodeData(name, stats, statsSize, writeStats, id);
}

/**
 * encodeStatsData from the sampler's rows, making no bigint: the same bytes as from the records. The frame
 * is written into `memory` when given (see FrameMemory); an Encoder's encodeStatsDataRows also reuses the
 * last vmm section it wrote.
 */
export function encodeStatsDataRows(name: VmName, rows: StatsRows, id = 0n, memory?: FrameMemory): Buffer {
  return encodeData(name, rows, statsRowsSize, writeStatsRows, id, memory);
}

function encodeData<T>(
  name: VmName,
  body: T,
  size: (body: T, lastSection: LastWrittenSection | undefined) => number,
  write: (w: Writer, body: T) => void,
  id: bigint,
  memory?: FrameMemory,
  lastSection?: LastWrittenSection,
): Buffer {
  const w = new Writer(HEADER_SIZE + stringsSize(name) + size(body, lastSection), memory, lastSection);
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
