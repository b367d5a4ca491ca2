/**
 * The points not yet delivered, oldest first, never more than `capacity` together with the batch being
 * sent: past it the oldest go, and are counted, so that a long outage of InfluxDB costs its oldest points
 * rather than the host's memory (as telegraf's metric_buffer_limit does).
 */
export class PointBuffer {
  readonly capacity: number;
  /**
   * The points held are those from #head on: a queue taken from the front without moving the rest each
   * time. The slots before #head are emptied as the head passes them, so that what was taken or dropped is
   * not kept alive until the next compaction.
   */
  #points: (string | undefined)[] = [];
  #head = 0;
  /** Points taken for a batch and neither delivered nor given back yet. */
  #sending = 0;
  #dropped = 0;

  constructor(capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`a point buffer holds at least one point, not ${capacity}`);
    this.capacity = capacity;
  }

  /** Points held, not counting a batch being sent. */
  get size(): number {
    return this.#points.length - this.#head;
  }

  /** Points dropped because the buffer was full, since it was made. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Adds points at the back, dropping as many of the oldest as it takes to stay within capacity. */
  push(points: readonly string[]): void {
    for (const point of points) this.#points.push(point);
    this.#trim();
  }

  /** Takes up to `count` of the oldest points to send; `sent` or `giveBack` must follow before the next take. */
  take(count: number): string[] {
    const batch = this.#points.slice(this.#head, this.#head + Math.min(count, this.capacity)) as string[];
    this.#advance(batch.length);
    this.#sending = batch.length;
    return batch;
  }

  /** The batch taken was delivered. */
  sent(): void {
    this.#sending = 0;
  }

  /** The batch taken could not be delivered: back to the front, the oldest points again. */
  giveBack(batch: readonly string[]): void {
    this.#sending = 0;
    this.#points = [...batch, ...this.#points.slice(this.#head)];
    this.#head = 0;
    this.#trim();
  }

  #trim(): void {
    // A batch is never larger than capacity, so what is held always covers the excess.
    const over = this.size + this.#sending - this.capacity;
    if (over > 0) {
      this.#advance(over);
      this.#dropped += over;
    }
  }

  #advance(count: number): void {
    this.#points.fill(undefined, this.#head, this.#head + count);
    this.#head += count;
    this.#compact();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#points.length) {
      this.#points = this.#points.slice(this.#head);
      this.#head = 0;
    }
  }
}
