import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/metrics/histogram.js';

describe('Histogram', () => {
  it('counts each observation in every bucket whose bound it does not exceed, and in +Inf', () => {
    const histogram = new Histogram([0.01, 0.02, 0.1]);
    for (const value of [0.005, 0.01, 0.015, 0.5]) histogram.observe(value);
    expect(histogram.cumulativeCounts).toEqual([2, 3, 3, 4]);
    expect(histogram.sum).toBeCloseTo(0.53, 10);
  });

  it('refuses bounds that do not ascend', () => {
    expect(() => new Histogram([0.1, 0.1])).toThrow(/ascend/);
    expect(() => new Histogram([0.2, 0.1])).toThrow(/ascend/);
  });
});
