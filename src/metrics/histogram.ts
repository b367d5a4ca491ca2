// A Prometheus histogram kept in memory: cumulative counts per upper bound, as the exposition renders them.

export interface HistogramValues {
  /** The buckets' upper bounds, ascending; +Inf is implied after them. */
  readonly bounds: readonly number[];
  /** Observations at or below each bound, then (one more entry) all of them: the +Inf bucket. */
  readonly cumulativeCounts: readonly number[];
  readonly sum: number;
}

export class Histogram implements HistogramValues {
  readonly bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;

  constructor(bounds: readonly number[]) {
    if (bounds.some((bound, i) => i > 0 && bound <= bounds[i - 1]!)) throw new RangeError('histogram bounds must ascend');
    this.bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    this.#sum += value;
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) this.#counts[i]! += 1;
    this.#counts[this.bounds.length]! += 1;
  }

  get cumulativeCounts(): readonly number[] {
    return this.#counts;
  }

  get sum(): number {
    return this.#sum;
  }
}
