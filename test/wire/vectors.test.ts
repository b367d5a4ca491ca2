// The seed's vectors: every valid frame encodes to the seed's bytes and decodes to its fields; every damaged
// frame gets the verdict the vectors expect, and on ok the fields the seed decoded.

import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeMessage, frameToJson, messageFromJson, WireError } from '../../src/wire/index.js';

interface ValidLine {
  kind: string;
  hex: string;
  [field: string]: unknown;
}

interface MalformedLine {
  hex: string;
  how: string;
  expect: 'ok' | 'error';
  decoded?: Record<string, unknown>;
  lossy_utf8?: boolean;
}

function readLines<T>(name: string): T[] {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

const valid = readLines<ValidLine>('valid.jsonl');
const malformed = readLines<MalformedLine>('malformed.jsonl');

function groupBy<T>(items: T[], key: (item: T) => string): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups].sort(([a], [b]) => a.localeCompare(b));
}

describe('valid vectors', () => {
  it('has the 3000 frames of every kind', () => {
    expect(valid).toHaveLength(3000);
    expect(new Set(valid.map((line) => line.kind)).size).toBe(15);
  });

  describe.each(groupBy(valid, (line) => line.kind))('%s', (_kind, lines) => {
    it(`encodes the fields of each of its ${lines.length} lines to the seed's bytes`, () => {
      const wrong = lines.filter((line) => encodeMessage(messageFromJson(line)).toString('hex') !== line.hex);
      expect(wrong.map((line) => line.hex)).toEqual([]);
    });

    it("decodes the seed's bytes to the fields", () => {
      const wrong = lines.filter((line) => {
        const frame = decodeFrame(Buffer.from(line.hex, 'hex'));
        return !isDeepStrictEqual(frame.message, messageFromJson(line)) || frame.header.version !== 2;
      });
      expect(wrong.map((line) => line.hex)).toEqual([]);
    });
  });
});

describe('malformed vectors', () => {
  it('has them all', () => {
    expect(malformed).toHaveLength(4291);
  });

  describe.each(groupBy(malformed, (line) => `${line.how}, expect ${line.expect}`))('%s', (_group, lines) => {
    it(`gives each of its ${lines.length} lines the expected verdict, and on ok the seed's fields`, () => {
      const wrong = lines.flatMap((line): { hex: string; expected: unknown; got: unknown }[] => {
        const verdict = decode(line.hex);
        if (verdict.ok !== (line.expect === 'ok')) return [{ hex: line.hex, expected: line.expect, got: verdict }];
        if (verdict.ok && JSON.stringify(verdict.json) !== JSON.stringify(line.decoded)) {
          return [{ hex: line.hex, expected: line.decoded, got: verdict.json }];
        }
        return [];
      });
      expect(wrong).toEqual([]);
    });
  });

  it('decodes invalid UTF-8 with U+FFFD replacements on the lines marked lossy_utf8', () => {
    const lossy = malformed.filter((line) => line.lossy_utf8);
    expect(lossy.length).toBeGreaterThan(100);
    for (const line of lossy) expect(JSON.stringify(decode(line.hex))).toContain('\ufffd');
  });
});

function decode(hex: string): { ok: true; json: unknown } | { ok: false; code: string } {
  try {
    return { ok: true, json: frameToJson(decodeFrame(Buffer.from(hex, 'hex'))) };
  } catch (err) {
    if (err instanceof WireError) return { ok: false, code: err.code };
    throw err;
  }
}
