// What the overview page costs the daemon at N VMs (default 1000, two taps each), beside the collector's
// own tick: per tick, making each VM's Stats record from the tick's rows (which a scrape does too, but now
// every tick) and recording the round in the history; per /api/overview answer, making its JSON and gzip;
// and the history's memory.
//   npm run bench:overview [-- --vms N] [--ticks T] [--browser]
// The VMs are all this process, their taps `lo`: the collector reads each as it would a VM of its own.
// With --browser, the page too: headless chromium (Debian's) opens it, and the script and layout time of a
// refresh is measured in it.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { Collector, type TickSnapshot } from '../src/collector/collector.js';
import { HISTORY_POINTS, OverviewHistory } from '../src/metrics/history.js';
import type { VmSnapshot } from '../src/metrics/exposition.js';
import { startMetricsServer } from '../src/metrics/server.js';
import { Slicer } from '../src/loop/slicer.js';
import { chromiumPath, launchChromium } from '../test/helpers/browser.js';
import { sampleProcess } from '../src/sampler/sampler.js';
import type { RegisteredVm } from '../src/vm/vm.js';

const { values } = parseArgs({
  options: { vms: { type: 'string', default: '1000' }, ticks: { type: 'string', default: '200' }, browser: { type: 'boolean', default: false } },
});
const VMS = Number(values.vms);
const TICKS = Number(values.ticks);
if (!(VMS > 0 && TICKS > HISTORY_POINTS)) throw new Error(`--vms takes a positive number and --ticks more than ${HISTORY_POINTS}`);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timed<T>(run: () => T, into: number[]): T {
  const started = performance.now();
  const result = run();
  into.push(performance.now() - started);
  return result;
}

function heapAfterGc(): number {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc (npm run bench:overview does)');
  globalThis.gc();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

const startTime = sampleProcess(process.pid).startTime;
const vms: RegisteredVm[] = Array.from({ length: VMS }, (_, i) => ({
  name: `tenant${i}.vm`, labels: [`tenant${i}`, 'vm'], pid: process.pid, startTime, taps: ['lo', 'lo'],
}));
const collector = new Collector({ logger: pino({ level: 'silent' }) });
const targets = { vms, wanted: vms };
const history = new OverviewHistory();
const times = { tick: [] as number[], records: [] as number[], history: [] as number[] };
// A tick's records are held by its snapshot until the next, with or without the history: counted in both.
let previous: TickSnapshot = await collector.tick(targets);
let served: VmSnapshot[] = previous.samples.map((sample) => ({ name: sample.vm.name, stats: sample.stats }));
const heapWithout = heapAfterGc();

/**
 * One tick as the daemon makes it with the metrics endpoint on; timed when `into` is given. The collector's
 * time is the tick's wall time: its reads run on libuv's pool while the event loop waits for them.
 */
async function tick(into?: typeof times): Promise<void> {
  const ignored = { tick: [], records: [], history: [] };
  const started = performance.now();
  const snapshot = await collector.tick(targets);
  (into ?? ignored).tick.push(performance.now() - started);
  collector.release(previous);
  previous = snapshot;
  served = timed(() => snapshot.samples.map((sample) => ({ name: sample.vm.name, stats: sample.stats })), (into ?? ignored).records);
  await timed(() => history.record(served), (into ?? ignored).history); // no slicer: all at once
}

for (let i = 0; i < TICKS; i++) await tick(times);
const heapWith = heapAfterGc();
/** The longest slice of each of ten rounds recorded, and answers made, in slices as the server does. */
const slices = { record: [] as number[], answer: [] as number[] };
for (let i = 0; i < 10; i++) {
  const recordSlicer = new Slicer();
  await history.record(served, { slicer: recordSlicer });
  slices.record.push(recordSlicer.longestMs);
  const answerSlicer = new Slicer();
  await history.overviewJson(0, answerSlicer);
  slices.answer.push(answerSlicer.longestMs);
}

const answers = { latest: [] as number[], full: [] as number[] };
let latest = '';
let full = '';
for (let i = 0; i < 20; i++) {
  // Without a slicer the JSON is made before the promise returns: timed whole.
  latest = await timed(() => history.overviewJson(history.round - 1), answers.latest);
  full = await timed(() => history.overviewJson(0), answers.full);
}
const gzipMs = (json: string) => {
  const started = performance.now();
  const bytes = gzipSync(json, { level: 1 }).length;
  return { ms: performance.now() - started, bytes };
};

const ms = (n: number) => `${n.toFixed(2)} ms`;
const kb = (n: number) => `${(n / 1000).toFixed(0)} kB`;
const latestGzip = gzipMs(latest);
const fullGzip = gzipMs(full);
console.log(`bench:overview: ${VMS} VMs with 2 taps each, ${TICKS} ticks, history of ${HISTORY_POINTS} rounds (medians)`);
console.log(`  collector tick (for comparison)       ${ms(median(times.tick))} of wall time`);
console.log(`  Stats records made from the rows      ${ms(median(times.records))}   (every tick now; before, only ticks with a scrape)`);
console.log(`  history.record, one round             ${ms(median(times.history))}; in slices as the server records it, the longest ${ms(median(slices.record))}`);
console.log(`  history memory                        ${kb(heapWith - heapWithout)} (${((heapWith - heapWithout) / VMS).toFixed(0)} B per VM)`);
console.log(`  /api/overview?since=ROUND-1 (1 round) ${ms(median(answers.latest))} JSON, ${kb(latest.length)}; gzip ${ms(latestGzip.ms)}, ${kb(latestGzip.bytes)}`);
console.log(`  /api/overview (all ${HISTORY_POINTS} rounds)       ${ms(median(answers.full))} JSON, ${kb(full.length)}; gzip ${ms(fullGzip.ms)}, ${kb(fullGzip.bytes)}`);
console.log(`    made in slices as the server does, the longest ${ms(median(slices.answer))}`);

/** Script and layout time in the page of each of ten refreshes that bring one round; run in the page. */
const REFRESH_IN_PAGE = `(async () => {
  const times = [];
  for (let i = 0; i < 10; i++) {
    const answer = await (await fetch('api/overview?since=' + (state.round - 1))).json();
    const started = performance.now();
    merge(answer);
    render();
    void document.body.offsetHeight; // the layout it caused
    times.push(performance.now() - started);
  }
  return times;
})()`;

async function measureInBrowser(): Promise<void> {
  const executable = chromiumPath();
  if (executable === undefined) throw new Error("--browser needs 'chromium' on PATH (Debian package chromium)");
  const listeners = new Set<() => void>();
  const server = await startMetricsServer({
    host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }),
    source: { snapshot: () => ({ vms: served, self: { vms: served.length } }), onSamples: (listener) => (listeners.add(listener), () => listeners.delete(listener)) },
  });
  const ticking = setInterval(() => {
    void tick().then(() => {
      for (const listener of listeners) listener();
    });
  }, 1000);
  const browser = await launchChromium(executable);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${server.address.port}/`);
    // Not waitForFunction: its predicate is evaluated by the page's eval, which the page's policy forbids.
    await page.locator('#vms tr').nth(VMS - 1).waitFor({ state: 'attached' });
    const refreshes = await page.evaluate<number[]>(REFRESH_IN_PAGE);
    console.log(`  in chromium, a one-round refresh      ${ms(median(refreshes))} of script and layout (median of ${refreshes.length})`);
  } finally {
    clearInterval(ticking);
    await browser.close();
    await server.close();
  }
}

if (values.browser) await measureInBrowser();
collector.close();
