// Short strings are stored in JS: for a few dozen characters a loop costs less than a call into Buffer's
// native UTF-8 writer.

/** Below this many UTF-16 units, storeIfAscii is worth trying before Buffer's writer. */
export const SHORT_STRING = 64;

/**
 * Stores `text` at `bytes[at]`, a byte per UTF-16 unit, and says whether it was ASCII, in which case those
 * bytes are its UTF-8. Otherwise the bytes stored are not, and the caller writes the text over them.
 */
export function storeIfAscii(text: string, bytes: Uint8Array, at: number): boolean {
  // No branch per character: OR them all and judge once.
  let units = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    units |= unit;
    bytes[at + i] = unit;
  }
  return units < 0x80;
}
