import { describe, expect, it } from 'vitest';
import { coveringPrefixes, isPid, MAX_PID, MIN_STALE_MS, staleAfterMs, STALE_INTERVALS, vmLabels, vmNameOf, vmNameProblem } from '../../src/vm/vm.js';

describe('VM names', () => {
  it('go from labels to the dotted form and back', () => {
    expect(vmNameOf(['tenant', 'web'])).toBe('tenant.web');
    expect(vmLabels('tenant.web')).toEqual(['tenant', 'web']);
    expect(vmLabels('')).toEqual([]);
    expect(vmNameOf([])).toBe('');
  });

  it('are refused where a label would not survive the dotted form', () => {
    expect(vmNameProblem(['tenant', 'web'])).toBeUndefined();
    expect(vmNameProblem(['a.b'])).toMatch(/label 1 .*holds a '\.'/);
    expect(vmNameProblem(['a', ''])).toMatch(/label 2 .*is empty/);
    expect(vmNameProblem([])).toMatch(/needs a name/);
    expect(vmNameProblem([], { prefix: true })).toBeUndefined();
    expect(vmNameProblem(['a', 'b.c'], { prefix: true })).toMatch(/label 2/);
  });

  it('cover the VMs below them as subscription prefixes', () => {
    const covers = (prefix: string[], labels: string[]) => coveringPrefixes(labels).includes(vmNameOf(prefix));
    expect(coveringPrefixes(['a', 'b'])).toEqual(['', 'a', 'a.b']);
    expect(covers([], ['a'])).toBe(true);
    expect(covers(['a'], ['a', 'b'])).toBe(true);
    expect(covers(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(covers(['a', 'b'], ['a'])).toBe(false);
    expect(covers(['a'], ['ab'])).toBe(false);
  });
});

describe('VM processes', () => {
  it('have pids from 1 to pid_t\'s maximum', () => {
    expect([0, 1, MAX_PID, MAX_PID + 1, -1, 1.5, NaN].map(isPid)).toEqual([false, true, true, false, false, false, false]);
  });

  it(`are stale after ${STALE_INTERVALS} intervals without Data, never sooner than ${MIN_STALE_MS} ms`, () => {
    expect(staleAfterMs(10_000)).toBe(STALE_INTERVALS * 10_000);
    expect(staleAfterMs(10)).toBe(MIN_STALE_MS);
  });
});
