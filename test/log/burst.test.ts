import { describe, expect, it } from 'vitest';
import { BurstLog } from '../../src/log/burst.js';
import { capturingLogger } from '../metrics/fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('BurstLog', () => {
  it('logs the first of a burst at once and the others as one count at the end of the window', async () => {
    const { logger, records } = capturingLogger();
    const burst = new BurstLog(logger, 'bad thing', 50);
    for (let i = 0; i < 1000; i++) burst.note({ n: i });
    expect(records.map((r) => [r.msg, r.n])).toEqual([['bad thing', 0]]);
    await sleep(120);
    expect(records).toHaveLength(2);
    expect(records[1]).toMatchObject({ level: 40, n: 999, more: 999, msg: 'bad thing: 999 more in the last 0.05 s, the last of them here' });
  });

  it('ends the burst after a quiet window: the next occurrence is logged at once again', async () => {
    const { logger, records } = capturingLogger();
    const burst = new BurstLog(logger, 'bad thing', 30);
    burst.note({ n: 1 });
    await sleep(100);
    expect(records).toHaveLength(1);
    burst.note({ n: 2 });
    expect(records.map((r) => r.n)).toEqual([1, 2]);
  });
});
