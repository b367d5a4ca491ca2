// Fixtures for the metrics tests. Stats values: every field distinct, so that a value in the wrong
// series shows.
import { pino, type Logger } from 'pino';
import type { IfData, Rusage, Stats, VmmCounter } from '../../src/wire/messages.js';
import { vmmCounters } from '../../src/wire/index.js';
import { renderMetricsBytes, type ExpositionFormat, type SelfMetrics, type VmSnapshot } from '../../src/metrics/exposition.js';
import { Histogram } from '../../src/metrics/histogram.js';

export function rusage(overrides: Partial<Rusage> = {}): Rusage {
  return {
    utime: { sec: 12n, usec: 500_000 },
    stime: { sec: 3n, usec: 25 },
    maxrss: 2048n,
    ixrss: 1n,
    idrss: 2n,
    isrss: 3n,
    minflt: 101n,
    majflt: 102n,
    nswap: 0n,
    inblock: 103n,
    outblock: 104n,
    msgsnd: 105n,
    msgrcv: 106n,
    nsignals: 107n,
    nvcsw: 108n,
    nivcsw: 109n,
    ...overrides,
  };
}

export function ifdata(name: string, overrides: Partial<IfData> = {}): IfData {
  return {
    name,
    flags: 0x8843, // UP, BROADCAST, RUNNING, MULTICAST
    send_length: 3,
    max_send_length: 1000,
    send_drops: 4,
    mtu: 1500,
    baudrate: 10_000_000n,
    input_packets: 201n,
    input_errors: 202n,
    output_packets: 203n,
    output_errors: 204n,
    collisions: 205n,
    input_bytes: 206n,
    output_bytes: 207n,
    input_mcast: 208n,
    output_mcast: 209n,
    input_dropped: 210n,
    output_dropped: 211n,
    ...overrides,
  };
}

export function stats(taps: IfData[] = [], vmm: VmmCounter[] = [], overrides: Partial<Rusage> = {}): Stats {
  return { rusage: rusage(overrides), vmm: vmmCounters(vmm), ifdata: taps };
}

export function vm(name: string, taps: IfData[] = [], vmm: VmmCounter[] = []): VmSnapshot {
  return { name, stats: stats(taps, vmm) };
}

function tickBlocking(): Histogram {
  const histogram = new Histogram([0.01, 0.1]);
  histogram.observe(0.004);
  histogram.observe(0.03);
  return histogram;
}

export const SELF: SelfMetrics = {
  vms: 2,
  collector: {
    subscribers: 1, droppedDataFrames: 7, intervalSeconds: 10, lastTickSeconds: 0.25, ticksTotal: 40, tickSecondsTotal: 3.5,
    hypervisorOpensPending: 3,
    tickBlocking: tickBlocking(),
  },
};

/** VM names that need every kind of escaping, and a few that need none. */
export const ODD_NAMES = [
  'plain',
  'tenant.web.frontend',
  'quote"inside',
  'back\\slash',
  'new\nline',
  'trailing\\',
  'ünïcødé.日本.🙂',
  'tab\tand\rreturn',
  '{braces}=,comma',
  '',
];

/** Many hypervisor counters, as bhyve names them, including ones that need escaping. */
export function hypervisorCounters(count: number): VmmCounter[] {
  const counters: VmmCounter[] = [
    ['number of times in/out was intercepted', 12n],
    ['vm exits due to nested page fault', 18446744073709551615n],
    ['Resident memory "rss"\\kib', 4096n],
  ];
  for (let i = counters.length; i < count; i++) counters.push([`vmm counter number ${i}`, BigInt(i) * 1000003n]);
  return counters;
}

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose records the test can read. */
export function capturingLogger(level = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

/** The exposition as text, for tests that read it line by line. */
export function renderMetrics(vms: Iterable<VmSnapshot>, self: SelfMetrics, format: ExpositionFormat, scrapeSeconds?: number): string {
  return renderMetricsBytes(vms, self, format, scrapeSeconds).toString('utf8');
}
