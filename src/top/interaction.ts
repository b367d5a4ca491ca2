// What the keys of `vmm-stats top` do to what it shows: the order, the columns, the selected VM, and which
// screen is up (the VMs, the fields to choose from, or one VM's counters). Pure: a state and a key give the
// next state.
import { FIELDS, sortKeyOf, type FieldId, type SortColumn, type SortOrder } from './fields.js';

/** A key as a terminal sends it: one character, or one of the escape sequences top knows. */
export type Key = { kind: 'char'; char: string } | { kind: 'up' } | { kind: 'down' } | { kind: 'escape' };

const ESCAPE_SEQUENCES: Record<string, Key> = {
  '\x1b[A': { kind: 'up' },
  '\x1b[B': { kind: 'down' },
  '\x1bOA': { kind: 'up' },
  '\x1bOB': { kind: 'down' },
};

/** The keys in what one read of a terminal gave; an escape sequence top does not know is skipped whole. */
export function parseKeys(chunk: string): Key[] {
  const keys: Key[] = [];
  let rest = chunk;
  while (rest !== '') {
    const sequence = /^\x1b(?:\[[0-9;]*[@-~]|O[@-~])/.exec(rest)?.[0]; // eslint-disable-line no-control-regex
    if (sequence !== undefined) {
      const known = ESCAPE_SEQUENCES[sequence];
      if (known) keys.push(known);
      rest = rest.slice(sequence.length);
      continue;
    }
    const char = [...rest][0]!;
    keys.push(char === '\x1b' ? { kind: 'escape' } : { kind: 'char', char });
    rest = rest.slice(char.length);
  }
  return keys;
}

export type Mode = 'vms' | 'fields' | 'counters';

export interface TopState {
  mode: Mode;
  order: SortOrder;
  /** Every field, the shown ones first in the order --fields gave. */
  fieldOrder: readonly FieldId[];
  shown: ReadonlySet<FieldId>;
  /** The selected VM's name, which `x` expands; undefined is the first row. */
  selected: string | undefined;
}

export function initialState(order: SortOrder, fields: readonly FieldId[]): TopState {
  const rest = FIELDS.map((field) => field.id).filter((id) => !fields.includes(id));
  return { mode: 'vms', order, fieldOrder: [...fields, ...rest], shown: new Set(fields), selected: undefined };
}

export function shownFields(state: TopState): FieldId[] {
  return state.fieldOrder.filter((id) => state.shown.has(id));
}

/** The columns that can be sorted by, left to right: the name, then the shown fields. */
function sortableColumns(state: TopState): SortColumn[] {
  return ['name', ...shownFields(state)];
}

/** The keys that do something other than sorting by a column, as the screens name them. */
export const KEYS = { reverse: 'r', fields: 'f', expand: 'x' } as const;
const { reverse: REVERSE_KEY, fields: FIELDS_KEY, expand: EXPAND_KEY } = KEYS;

/** The key that shows or hides the field at `index` on the fields screen: 1 to 9. */
export function toggleKeyOf(index: number): string {
  return String(index + 1);
}

function withOrder(state: TopState, order: SortOrder): TopState {
  return { ...state, order };
}

/** The sort moved to the next visible column left (-1) or right (+1), wrapping around. */
function shiftedOrder(state: TopState, step: number): SortOrder {
  const columns = sortableColumns(state);
  const at = columns.indexOf(state.order.column);
  const next = columns[(at + step + columns.length) % columns.length]!;
  return { column: next, reversed: false };
}

function afterVmsKey(state: TopState, key: Key, rowNames: readonly string[]): TopState {
  if (key.kind === 'up' || key.kind === 'down') return { ...state, selected: moved(state, rowNames, key.kind === 'up' ? -1 : 1) };
  if (key.kind !== 'char') return state;
  switch (key.char) {
    case REVERSE_KEY:
      return withOrder(state, { ...state.order, reversed: !state.order.reversed });
    case '<':
    case '>':
      return withOrder(state, shiftedOrder(state, key.char === '<' ? -1 : 1));
    case FIELDS_KEY:
      return { ...state, mode: 'fields' };
    case EXPAND_KEY:
      return rowNames.length === 0 ? state : { ...state, mode: 'counters', selected: selectedName(state, rowNames) };
    case 'j':
    case 'k':
      return afterVmsKey(state, { kind: key.char === 'k' ? 'up' : 'down' }, rowNames);
  }
  const column = sortableColumns(state).find((candidate) => sortKeyOf(candidate) === key.char);
  return column === undefined ? state : withOrder(state, { column, reversed: false });
}

/** The selected VM: the one chosen while it is still there, else the first row. */
export function selectedName(state: TopState, rowNames: readonly string[]): string | undefined {
  return state.selected !== undefined && rowNames.includes(state.selected) ? state.selected : rowNames[0];
}

function moved(state: TopState, rowNames: readonly string[], step: number): string | undefined {
  const current = selectedName(state, rowNames);
  if (current === undefined) return undefined;
  const at = Math.min(rowNames.length - 1, Math.max(0, rowNames.indexOf(current) + step));
  return rowNames[at];
}

function toggled(state: TopState, id: FieldId): TopState {
  const shown = new Set(state.shown);
  if (!shown.delete(id)) shown.add(id);
  // Sorting stays on a column the screen shows: hiding the sorted one sorts by name.
  const order = shown.has(id) || state.order.column !== id ? state.order : { column: 'name' as const, reversed: false };
  return { ...state, shown, order };
}

function afterFieldsKey(state: TopState, key: Key): TopState {
  if (key.kind === 'escape' || (key.kind === 'char' && [FIELDS_KEY, '\r', '\n'].includes(key.char))) return { ...state, mode: 'vms' };
  if (key.kind !== 'char') return state;
  const index = state.fieldOrder.findIndex((_, i) => toggleKeyOf(i) === key.char);
  return index < 0 ? state : toggled(state, state.fieldOrder[index]!);
}

function afterCountersKey(state: TopState, key: Key): TopState {
  const back = key.kind === 'escape' || (key.kind === 'char' && [EXPAND_KEY, '\r', '\n'].includes(key.char));
  return back ? { ...state, mode: 'vms' } : state;
}

/** The state after a key; `rowNames` are the VMs as the screen lists them, for moving the selection. */
export function stateAfterKey(state: TopState, key: Key, rowNames: readonly string[]): TopState {
  switch (state.mode) {
    case 'vms':
      return afterVmsKey(state, key, rowNames);
    case 'fields':
      return afterFieldsKey(state, key);
    case 'counters':
      return afterCountersKey(state, key);
  }
}
