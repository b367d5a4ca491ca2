// Short ASCII strings decoded lately, kept by their bytes. Frame after frame repeats the same VM names, tap
// names and counter descriptions: finding one here costs a hash and a compare of a few bytes in JS, where
// decoding it costs a call into Buffer's decoder and a new string each time.

/** Strings of at most this many bytes are kept. */
export const MAX_RECENT_BYTES = 64;
const SLOTS = 1024;

export class RecentStrings {
  /** Slot s holds the bytes of its string at s × MAX_RECENT_BYTES; a length of -1 marks it empty. */
  readonly #keys = new Uint8Array(SLOTS * MAX_RECENT_BYTES);
  readonly #lengths = new Int32Array(SLOTS).fill(-1);
  readonly #texts = new Array<string>(SLOTS).fill('');

  /** The text of bytes[from, to), at most MAX_RECENT_BYTES long, when every byte is ASCII; undefined otherwise. */
  ascii(bytes: Buffer, from: number, to: number): string | undefined {
    const length = to - from;
    // FNV-1a, and the OR of all bytes for the ASCII test, in one pass.
    let hash = 0x811c9dc5;
    let all = 0;
    for (let i = from; i < to; i++) {
      const byte = bytes[i];
      all |= byte;
      hash = Math.imul(hash ^ byte, 0x01000193);
    }
    if (all >= 0x80) return undefined;
    const slot = (hash ^ (hash >>> 16)) & (SLOTS - 1);
    const key = slot * MAX_RECENT_BYTES;
    if (this.#lengths[slot] === length && this.#holds(key, bytes, from, length)) return this.#texts[slot];
    // ASCII: latin1 reads it as UTF-8 would, and more cheaply.
    const text = bytes.toString('latin1', from, to);
    this.#keys.set(bytes.subarray(from, to), key);
    this.#lengths[slot] = length;
    this.#texts[slot] = text;
    return text;
  }

  #holds(key: number, bytes: Buffer, from: number, length: number): boolean {
    const keys = this.#keys;
    for (let i = 0; i < length; i++) if (keys[key + i] !== bytes[from + i]) return false;
    return true;
  }
}
