import { describe, expect, it } from 'vitest';
import { MAX_RECENT_BYTES, RecentStrings } from '../../src/wire/recent-strings.js';

/** The bytes of `texts` back to back, and where each starts. */
function laidOut(texts: string[]): { bytes: Buffer; starts: number[] } {
  const starts: number[] = [];
  let at = 0;
  for (const text of texts) {
    starts.push(at);
    at += Buffer.byteLength(text);
  }
  return { bytes: Buffer.from(texts.join('')), starts };
}

describe('RecentStrings', () => {
  it('gives each string its own text, through evictions and slot collisions', () => {
    // Far more strings than slots, of one length: many share a slot and push each other out.
    const texts = Array.from({ length: 5000 }, (_, i) => `tap${String(i).padStart(5, '0')}`);
    const { bytes, starts } = laidOut(texts);
    const recent = new RecentStrings();
    for (let pass = 0; pass < 2; pass++) {
      texts.forEach((text, i) => {
        expect(recent.ascii(bytes, starts[i], starts[i] + text.length)).toBe(text);
      });
    }
  });

  it('finds a string again at another offset and in other memory', () => {
    const recent = new RecentStrings();
    const first = Buffer.from('xxvm-0001');
    expect(recent.ascii(first, 2, 9)).toBe('vm-0001');
    const second = Buffer.from('vm-0001yy');
    expect(recent.ascii(second, 0, 7)).toBe('vm-0001');
    // The same bytes but one: not the cached string.
    expect(recent.ascii(Buffer.from('vm-0002'), 0, 7)).toBe('vm-0002');
  });

  it('tells a prefix from the whole string', () => {
    const recent = new RecentStrings();
    const bytes = Buffer.from('tap10');
    expect(recent.ascii(bytes, 0, 5)).toBe('tap10');
    expect(recent.ascii(bytes, 0, 4)).toBe('tap1');
    expect(recent.ascii(bytes, 0, 0)).toBe('');
    expect(recent.ascii(bytes, 0, 5)).toBe('tap10');
  });

  it('refuses bytes that are not ASCII, so that the caller decodes them as UTF-8', () => {
    const recent = new RecentStrings();
    const bytes = Buffer.from('café');
    expect(recent.ascii(bytes, 0, bytes.length)).toBeUndefined();
    // A lone byte with the top bit set, where latin1 would give 'ÿ'.
    expect(recent.ascii(Buffer.from([0x61, 0xff]), 0, 2)).toBeUndefined();
  });

  it('keeps strings of up to MAX_RECENT_BYTES', () => {
    const recent = new RecentStrings();
    const longest = 'd'.repeat(MAX_RECENT_BYTES);
    const bytes = Buffer.from(longest + 'd');
    expect(recent.ascii(bytes, 0, MAX_RECENT_BYTES)).toBe(longest);
    expect(recent.ascii(bytes, 1, MAX_RECENT_BYTES + 1)).toBe(longest);
  });
});
