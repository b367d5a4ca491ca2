import { describe, expect, it } from 'vitest';
import { DEFAULT_ORDER, FIELD_IDS } from '../../src/top/fields.js';
import { initialState, parseKeys, shownFields, stateAfterKey, type Key, type TopState } from '../../src/top/interaction.js';

const ROWS = ['tenant.db', 'batch', 'tenant.web'];
const char = (c: string): Key => ({ kind: 'char', char: c });

function after(state: TopState, ...keys: (string | Key)[]): TopState {
  return keys.reduce((current, key) => stateAfterKey(current, typeof key === 'string' ? char(key) : key, ROWS), state);
}

const start = initialState(DEFAULT_ORDER, FIELD_IDS);

describe('parseKeys', () => {
  it('splits a read into characters and the arrow keys, and skips escape sequences it does not know', () => {
    expect(parseKeys('cx')).toEqual([char('c'), char('x')]);
    expect(parseKeys('\x1b[A\x1b[Bq')).toEqual([{ kind: 'up' }, { kind: 'down' }, char('q')]);
    expect(parseKeys('\x1bOA')).toEqual([{ kind: 'up' }]);
    expect(parseKeys('\x1b[5~\x1b[1;5Cn')).toEqual([char('n')]);
    expect(parseKeys('\x1b')).toEqual([{ kind: 'escape' }]);
    expect(parseKeys('ü🙂')).toEqual([char('ü'), char('🙂')]);
  });
});

describe('the sort keys', () => {
  it("choose a shown column by its key, reverse with r, and ignore a hidden column's key", () => {
    expect(after(start, 'm').order).toEqual({ column: 'memory', reversed: false });
    expect(after(start, 'm', 'r').order).toEqual({ column: 'memory', reversed: true });
    expect(after(start, 'm', 'r', 'n').order).toEqual({ column: 'name', reversed: false });
    for (const [key, column] of [['e', 'exits'], ['p', 'packets-in'], ['P', 'packets-out'], ['t', 'taps'], ['i', 'in'], ['o', 'out']] as const) {
      expect(after(start, key).order.column).toBe(column);
    }
    const cpuOnly = initialState(DEFAULT_ORDER, ['cpu']);
    expect(after(cpuOnly, 'e').order).toEqual(DEFAULT_ORDER);
    expect(after(start, 'Z')).toEqual(start);
  });

  it('move the sort to the next shown column with > and <, wrapping around through the name', () => {
    const some = initialState({ column: 'name', reversed: false }, ['exits', 'cpu']);
    expect(after(some, '>').order.column).toBe('exits');
    expect(after(some, '>', '>').order.column).toBe('cpu');
    expect(after(some, '>', '>', '>').order.column).toBe('name');
    expect(after(some, '<').order.column).toBe('cpu');
  });
});

describe('the fields screen (f)', () => {
  it('toggles a field with its digit, keeps the order, and goes back with f, Esc or Enter', () => {
    const fields = after(initialState(DEFAULT_ORDER, ['exits', 'cpu']), 'f');
    expect(fields.mode).toBe('fields');
    expect(fields.fieldOrder.slice(0, 3)).toEqual(['exits', 'cpu', 'memory']);
    expect(shownFields(after(fields, '3'))).toEqual(['exits', 'cpu', 'memory']);
    expect(shownFields(after(fields, '1'))).toEqual(['cpu']);
    expect(shownFields(after(fields, '1', '1'))).toEqual(['exits', 'cpu']);
    // Keys that mean something on the VMs screen do nothing here.
    expect(after(fields, 'c', 'x', '9')).toEqual(fields);
    for (const back of ['f', '\r', { kind: 'escape' } as Key]) expect(after(fields, back).mode).toBe('vms');
  });

  it('sorts by name once the sorted column is hidden', () => {
    const hidden = after(initialState(DEFAULT_ORDER, ['exits', 'cpu']), 'f', '2');
    expect(shownFields(hidden)).toEqual(['exits']);
    expect(hidden.order).toEqual({ column: 'name', reversed: false });
    expect(after(initialState({ column: 'exits', reversed: true }, ['exits', 'cpu']), 'f', '2').order).toEqual({ column: 'exits', reversed: true });
  });
});

describe('selecting and expanding a VM (arrows, j and k, x)', () => {
  it('moves the selection within the rows as listed, from the first', () => {
    expect(after(start, { kind: 'down' }).selected).toBe('batch');
    expect(after(start, 'j', 'j', 'j', 'j').selected).toBe('tenant.web');
    expect(after(start, 'j', 'j', 'k').selected).toBe('batch');
    expect(after(start, { kind: 'up' }).selected).toBe('tenant.db');
  });

  it('expands the selected VM (the first row when none was chosen), and goes back with x or Esc', () => {
    expect(after(start, 'x')).toMatchObject({ mode: 'counters', selected: 'tenant.db' });
    const expanded = after(start, 'j', 'x');
    expect(expanded).toMatchObject({ mode: 'counters', selected: 'batch' });
    expect(after(expanded, 'c', 'j')).toEqual(expanded);
    expect(after(expanded, 'x').mode).toBe('vms');
    expect(after(expanded, { kind: 'escape' }).mode).toBe('vms');
  });

  it('does not expand when there is no VM', () => {
    expect(stateAfterKey(start, char('x'), [])).toEqual(start);
  });
});
