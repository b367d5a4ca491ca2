// Straight-line functions made from a layout (layouts.ts) once, at load: the wire's block writers and
// readers, and the moves between sampler rows and the wire or records.
//
// Why generated, not loops over the layout: written out, every offset is a constant and every record is one
// object literal, so V8 inlines each access at its offset and builds records of one fixed shape. A loop over
// the fields reads each record's properties by a key that changes every iteration and builds the record
// property by property, which V8 cannot specialise (BENCHMARKS.md, "Wire codec"). The generated text uses
// nothing but the layout's keys (checked to be identifiers) and the helpers passed in.

import type { Reader } from './buffer-reader.js';
import { putInt, putU32 } from './buffer-writer.js';
import { scalarsOf, type LayoutField, type Scalar } from './layouts.js';
import { getU64, lowWord, putU64, putU64Word } from './u64-words.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkIdentifiers(identifiers: readonly string[]): void {
  for (const identifier of identifiers) {
    if (!IDENTIFIER.test(identifier)) throw new Error(`layout code: ${JSON.stringify(identifier)} is not an identifier`);
  }
}

/** The value of `expression` (a function or a class), which sees nothing but `helpers`. */
function evaluate<F>(helpers: Record<string, unknown>, expression: string): F {
  const make = new Function(...Object.keys(helpers), `return ${expression};`);
  return make(...Object.values(helpers)) as F;
}

function compile<F>(name: string, helpers: Record<string, unknown>, parameters: string[], body: string): F {
  checkIdentifiers([name, ...parameters]);
  return evaluate(helpers, `function ${name}(${parameters.join(', ')}) {\n${body}\n}`);
}

function checkedScalars(layout: readonly LayoutField[]): Scalar[] {
  const scalars = scalarsOf(layout);
  for (const { path } of scalars) {
    for (const key of path) if (!IDENTIFIER.test(key)) throw new Error(`layout code: field ${JSON.stringify(key)} is not an identifier`);
  }
  return scalars;
}

/** Each top-level field of the layout and the expression of its value, a scalar's given by `value`. */
function fieldExpressions(layout: readonly LayoutField[], value: (scalar: Scalar) => string): { key: string; expression: string }[] {
  const scalars = checkedScalars(layout);
  const fields: { key: string; expression: string }[] = [];
  for (let i = 0; i < scalars.length; i++) {
    const [key, part] = scalars[i].path;
    if (part === undefined) {
      fields.push({ key, expression: value(scalars[i]) });
    } else {
      // A timeval: its seconds, then its microseconds.
      fields.push({ key, expression: `{ sec: ${value(scalars[i])}, usec: ${value(scalars[i + 1])} }` });
      i++;
    }
  }
  return fields;
}

/**
 * An object literal with `leading` (parameters of the same name) first, then the layout's fields in order,
 * each scalar's value given by `value`.
 */
function recordLiteral(layout: readonly LayoutField[], leading: readonly string[], value: (scalar: Scalar) => string): string {
  const members = [...leading, ...fieldExpressions(layout, value).map(({ key, expression }) => `${key}: ${expression}`)];
  return `{\n  ${members.join(',\n  ')}\n}`;
}

const PUT = { u32: 'putU32', u64: 'putU64', int: 'putInt' } as const;

/** writer(view, at, record): the record's fields, checked, at `at` of `view`. */
export function compileBlockWriter<R>(name: string, layout: readonly LayoutField[]): (view: DataView, at: number, record: R) => void {
  const lines = checkedScalars(layout).map(
    ({ kind, offset, path }) => `${PUT[kind]}(view, at + ${offset}, record.${path.join('.')});`,
  );
  return compile(name, { putU32, putU64, putInt }, ['view', 'at', 'record'], lines.join('\n'));
}

/**
 * reader(r, at, ...leading): the record at input offset `at` of `r` (claimed with take()), with the
 * `leading` properties first.
 */
export function compileBlockReader<R, A extends unknown[] = []>(
  name: string,
  layout: readonly LayoutField[],
  leading: readonly string[] = [],
): (r: Reader, at: number, ...leading: A) => R {
  const read = ({ kind, offset }: Scalar): string =>
    kind === 'u64' ? `getU64(view, o + ${offset})` : kind === 'u32' ? `view.getUint32(o + ${offset})` : `r.intAt(at + ${offset})`;
  const body = `const view = r.data;\nconst o = r.base + at;\nreturn ${recordLiteral(layout, leading, read)};`;
  return compile(name, { getU64 }, ['r', 'at', ...leading], body);
}

/**
 * writer(view, at, words, field): a sampler row's fields from `field` on (as Uint32Array words, see
 * u64-words.ts) as the wire's block at `at` of `view`; a u32 is the low word of its row field.
 */
export function compileRowWriter(name: string, layout: readonly LayoutField[]): (view: DataView, at: number, words: Uint32Array, field: number) => void {
  const lines = checkedScalars(layout).map(({ kind, offset, rowField }) =>
    kind === 'u32'
      ? `view.setUint32(at + ${offset}, lowWord(words, field + ${rowField}));`
      : `putU64Word(view, at + ${offset}, words, field + ${rowField});`,
  );
  return compile(name, { lowWord, putU64Word }, ['view', 'at', 'words', 'field'], lines.join('\n'));
}

/**
 * reader(u64, words, at, ...leading): the record in a sampler row from field `at` on, seen both as u64
 * values and as their 32-bit words; u32 and int fields are the low words of theirs.
 */
export function compileRowReader<R, A extends unknown[] = []>(
  name: string,
  layout: readonly LayoutField[],
  leading: readonly string[] = [],
): (u64: BigUint64Array, words: Uint32Array, at: number, ...leading: A) => R {
  const read = ({ kind, rowField }: Scalar): string =>
    kind === 'u64' ? `u64[at + ${rowField}]` : `lowWord(words, at + ${rowField})`;
  return compile(name, { lowWord }, ['u64', 'words', 'at', ...leading], `return ${recordLiteral(layout, leading, read)};`);
}

/**
 * A class whose instances show the record in a sampler row from field `at` on, as compileRowReader's
 * record, with the `leading` properties (constructor arguments after `at`) first: each field is read from
 * the row when asked for. What a reader that holds many records across slices of the event loop (a
 * scrape's rendering) keeps instead, so that the numbers stay in the rows and no bigint outlives its use.
 * A view reads whatever the row holds when asked: it is valid as long as its rows are not refilled.
 */
export function compileRowView<R, A extends unknown[] = []>(
  name: string,
  layout: readonly LayoutField[],
  leading: readonly string[] = [],
): new (u64: BigUint64Array, words: Uint32Array, at: number, ...leading: A) => R {
  checkIdentifiers([name, ...leading]);
  const read = ({ kind, rowField }: Scalar): string =>
    kind === 'u64' ? `this.#u64[this.#at + ${rowField}]` : `lowWord(this.#words, this.#at + ${rowField})`;
  const getters = fieldExpressions(layout, read).map(({ key, expression }) => `get ${key}() { return ${expression}; }`);
  const parameters = ['u64', 'words', 'at', ...leading];
  const constructor = `constructor(${parameters.join(', ')}) {\n${leading.map((key) => `this.${key} = ${key};`).join('\n')}
this.#u64 = u64; this.#words = words; this.#at = at;\n}`;
  return evaluate({ lowWord }, `class ${name} {\n#u64; #words; #at;\n${constructor}\n${getters.join('\n')}\n}`);
}
