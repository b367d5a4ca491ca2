// From the phases' raw figures to the report: the derived figures, the goals, a table and a JSON line.
import type { PhaseResult } from './measure.js';
import { median, quantile, slope } from './statistics.js';

export interface FloorResult {
  /** What the floor program is and does, for the table. */
  label: string;
  ticks: number;
  cpuSecondsPerTick: number;
  wallSecondsPerTick: number;
}

export interface RunInfo {
  vms: number;
  tapsPerVm: number;
  phaseSeconds: number;
  registerSeconds: number;
  slowTickLines: number;
  /** Links in the host's namespace when measuring began: a link dump's cost grows with them. */
  links: number;
  cpuCount: number;
  machine: Record<string, string>;
  command: string;
}

/** The phases the harness runs, by name. */
export interface Phases {
  /** Subscribed to every VM, no scrapes: the tick with encoding and sending. */
  subscribed: PhaseResult;
  /** Nobody subscribed, our /metrics scraped every second: what serving Prometheus costs, tick included. */
  scraped: PhaseResult;
  /** Nobody subscribed, the peers scraped in turn: their cost, and our tick with nothing to send. */
  peers: PhaseResult;
}

interface ScrapeFigures {
  scrapes: number;
  cpuMsPerScrape: number;
  latencyMedianMs: number;
  latencyP99Ms: number;
  bytesMedian: number;
  encoding: string;
}

export interface Summary {
  run: RunInfo;
  floor: { label: string; ticks: number; cpuMsPerTick: number; cpuUsPerVm: number; wallMsPerTick: number };
  tick: {
    ticks: number;
    /** With nobody subscribed: the sampling the metrics endpoint keeps going, nothing encoded or sent. */
    unsubscribedCpuMsPerTick: number;
    cpuMsPerTick: number;
    cpuUsPerVm: number;
    userShare: number;
    samplingWallMsPerTick: number;
    dataFramesPerTick: number;
    timesFloor: number;
  };
  ours: { scrapeOnly: ScrapeFigures; withTick: ScrapeFigures };
  peers: Record<string, ScrapeFigures>;
  peersCpuMsPerScrape: number;
  oursOverPeers: number;
  rss: {
    startMB: number;
    endMB: number;
    maxMB: number;
    /** The largest RssAnon: the part of the RSS that is the daemon's own, not the node binary's shared text. */
    maxAnonMB: number;
    slopeKBPerMin: number;
    highGrowthMB: number;
  };
  /** Per phase: CPUs the machine kept busy, and how many of them went to others than the processes measured,
   * the floor and the harness (another load on the machine makes every figure noisier). */
  load: { phase: string; busyCpus: number; otherCpus: number }[];
  goals: { goal: string; value: string; met: boolean }[];
}

const DAEMON = 'vmm-stats';
const ms = (seconds: number) => seconds * 1000;

function scrapeFigures(phase: PhaseResult, service: string, cpuMsPerScrape: number): ScrapeFigures {
  const scrapes = phase.scrapes[service] ?? [];
  return {
    scrapes: scrapes.length,
    cpuMsPerScrape,
    latencyMedianMs: ms(median(scrapes.map((s) => s.seconds))),
    latencyP99Ms: ms(quantile(scrapes.map((s) => s.seconds), 0.99)),
    bytesMedian: median(scrapes.map((s) => s.bytes)),
    encoding: scrapes[0]?.encoding ?? 'none',
  };
}

function scrapeCount(phase: PhaseResult, service: string): number {
  return phase.scrapes[service]?.length ?? 0;
}

/** The highest RSS of a phase's second half less the highest of its first: a leak makes new highs, the
 * garbage collector's sawtooth does not. */
function newHighs(phase: PhaseResult): number {
  const bytes = phase.memory.map((m) => m.rssBytes);
  const half = Math.floor(bytes.length / 2);
  return Math.max(...bytes.slice(half)) - Math.max(...bytes.slice(0, half));
}

/** Start, end, max and least-squares slope over the run; the largest new highs of any phase. */
function rssFigures(phases: PhaseResult[]): Summary['rss'] {
  const series = phases.flatMap((phase) => phase.memory);
  const mb = (bytes: number) => bytes / 2 ** 20;
  return {
    startMB: mb(series[0]!.rssBytes),
    endMB: mb(series[series.length - 1]!.rssBytes),
    maxMB: mb(Math.max(...series.map((m) => m.rssBytes))),
    maxAnonMB: mb(Math.max(...series.map((m) => m.anonBytes))),
    slopeKBPerMin: (slope(series.map((m) => [m.atSeconds, m.rssBytes])) * 60) / 1024,
    highGrowthMB: mb(Math.max(...phases.map(newHighs))),
  };
}

function machineLoad(phase: PhaseResult, floorSeconds: number): Summary['load'][number] {
  const measured = Object.values(phase.cpu).reduce((sum, cpu) => sum + cpu.runSeconds, 0);
  const other = phase.machineBusySeconds - measured - phase.harnessSeconds - floorSeconds;
  return {
    phase: phase.spec.name,
    busyCpus: phase.machineBusySeconds / phase.wallSeconds,
    otherCpus: Math.max(0, other) / phase.wallSeconds,
  };
}

export function summarise(run: RunInfo, floor: FloorResult, phases: Phases): Summary {
  const { subscribed, scraped, peers: peerPhase } = phases;
  const tickCpu = subscribed.cpu[DAEMON]!;
  const cpuSecondsPerTick = tickCpu.runSeconds / subscribed.ticks.ticks;
  const unsubscribedTick = peerPhase.cpu[DAEMON]!.runSeconds / peerPhase.ticks.ticks;
  const tick = {
    ticks: subscribed.ticks.ticks,
    unsubscribedCpuMsPerTick: ms(unsubscribedTick),
    cpuMsPerTick: ms(cpuSecondsPerTick),
    cpuUsPerVm: (cpuSecondsPerTick * 1e6) / run.vms,
    userShare: tickCpu.userSeconds / (tickCpu.userSeconds + tickCpu.systemSeconds),
    samplingWallMsPerTick: ms(subscribed.ticks.seconds / subscribed.ticks.ticks),
    dataFramesPerTick: subscribed.dataFrames / subscribed.ticks.ticks,
    timesFloor: cpuSecondsPerTick / floor.cpuSecondsPerTick,
  };
  // A scrape alone: the scraped phase's CPU less its ticks, each costing what a tick costs with nobody
  // subscribed and nobody scraping (the peers' phase). Ours for Prometheus: that scrape plus one tick.
  const scrapeAlone = (scraped.cpu[DAEMON]!.runSeconds - unsubscribedTick * scraped.ticks.ticks)
    / scrapeCount(scraped, DAEMON);
  const ours = {
    scrapeOnly: scrapeFigures(scraped, DAEMON, ms(scrapeAlone)),
    withTick: scrapeFigures(scraped, DAEMON, ms(scrapeAlone + unsubscribedTick)),
  };
  // Neither peer works between scrapes: all of its CPU is its scrapes'.
  const peerNames = Object.keys(peerPhase.scrapes);
  const peers = Object.fromEntries(peerNames.map((name) => [
    name,
    scrapeFigures(peerPhase, name, ms(peerPhase.cpu[name]!.runSeconds) / scrapeCount(peerPhase, name)),
  ]));
  const peersCpuMsPerScrape = peerNames.reduce((sum, name) => sum + peers[name]!.cpuMsPerScrape, 0);
  const oursOverPeers = ours.withTick.cpuMsPerScrape / peersCpuMsPerScrape;
  const rss = rssFigures([subscribed, scraped, peerPhase]);
  const summary = {
    run,
    floor: {
      label: floor.label,
      ticks: floor.ticks,
      cpuMsPerTick: ms(floor.cpuSecondsPerTick),
      cpuUsPerVm: (floor.cpuSecondsPerTick * 1e6) / run.vms,
      wallMsPerTick: ms(floor.wallSecondsPerTick),
    },
    tick,
    ours,
    peers,
    peersCpuMsPerScrape,
    oursOverPeers,
    rss,
    load: [
      machineLoad(subscribed, floor.cpuSecondsPerTick * (floor.ticks + 1)),
      machineLoad(scraped, 0),
      machineLoad(peerPhase, 0),
    ],
    goals: [] as Summary['goals'],
  };
  summary.goals = goals(summary);
  return summary;
}

/** A leak's new highs, beyond the garbage collector's sawtooth, within a phase. */
const FLAT_MB = 2;

function goals(s: Omit<Summary, 'goals'>): Summary['goals'] {
  return [
    { goal: 'tick CPU within 1.5x of the C floor', value: `${s.tick.timesFloor.toFixed(2)}x`, met: s.tick.timesFloor <= 1.5 },
    { goal: 'scrape + its tick <= 1/4 of process-exporter + node_exporter CPU', value: `${s.oursOverPeers.toFixed(3)}`, met: s.oursOverPeers <= 0.25 },
    { goal: 'daemon RSS < 100 MB', value: `max ${s.rss.maxMB.toFixed(1)} MB`, met: s.rss.maxMB < 100 },
    {
      goal: `daemon RSS flat (new highs within a phase < ${FLAT_MB} MB)`,
      value: `${s.rss.highGrowthMB.toFixed(1)} MB`,
      met: s.rss.highGrowthMB < FLAT_MB,
    },
  ];
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((cells) => cells[i]!.length)));
  return [row(header, widths), ...rows.map((cells) => row(cells, widths))].join('\n');
}

function scrapeRow(name: string, f: ScrapeFigures): string[] {
  return [name, fixed(f.cpuMsPerScrape, 2), fixed(f.latencyMedianMs, 1), fixed(f.latencyP99Ms, 1),
    `${Math.round(f.bytesMedian)} (${f.encoding})`, String(f.scrapes)];
}

export function formatSummary(s: Summary): string {
  const { run } = s;
  const ticks = table(
    ['per tick (interval 1 s)', 'CPU ms/tick', 'CPU µs/VM', 'wall ms/tick', 'ticks'],
    [
      [s.floor.label, fixed(s.floor.cpuMsPerTick, 3), fixed(s.floor.cpuUsPerVm, 2), fixed(s.floor.wallMsPerTick, 3), String(s.floor.ticks)],
      ['vmm-stats tick: sample + encode + send Data', fixed(s.tick.cpuMsPerTick, 3), fixed(s.tick.cpuUsPerVm, 2),
        `${fixed(s.tick.samplingWallMsPerTick, 3)} (sampling)`, String(s.tick.ticks)],
      ['vmm-stats tick, nobody subscribed: sample', fixed(s.tick.unsubscribedCpuMsPerTick, 3),
        fixed((s.tick.unsubscribedCpuMsPerTick * 1000) / run.vms, 2), '', ''],
    ],
  );
  const peerRows = Object.entries(s.peers).map(([name, f]) => scrapeRow(name, f));
  const scrapes = table(
    ['per scrape (1/s)', 'CPU ms', 'latency p50 ms', 'p99 ms', 'bytes', 'scrapes'],
    [
      scrapeRow('vmm-stats /metrics (the scrape alone)', s.ours.scrapeOnly),
      scrapeRow('vmm-stats /metrics + the tick feeding it', s.ours.withTick),
      ...peerRows,
    ],
  );
  const goalLines = s.goals.map((g) => `  [${g.met ? 'met' : 'MISSED'}] ${g.goal}: ${g.value}`);
  return [
    `vmm-stats scale bench: ${run.vms} VMs x ${run.tapsPerVm} taps, three phases of ${run.phaseSeconds} s`,
    `registration of ${run.vms} VMs (pipelined Adds): ${fixed(run.registerSeconds, 2)} s; slow ticks logged: ${run.slowTickLines}; `
      + `links on the host: ${run.links}`,
    `tick data frames per tick: ${fixed(s.tick.dataFramesPerTick, 1)}; user share of the tick's CPU: ${fixed(s.tick.userShare * 100, 0)}%`,
    '',
    ticks,
    `  tick / floor: ${fixed(s.tick.timesFloor, 2)}x`,
    '',
    scrapes,
    `  peers together: ${fixed(s.peersCpuMsPerScrape, 2)} ms CPU per scrape; ours (scrape + tick) / peers: ${fixed(s.oursOverPeers, 3)}`,
    '',
    `daemon RSS: start ${fixed(s.rss.startMB, 1)} MB, end ${fixed(s.rss.endMB, 1)} MB, max ${fixed(s.rss.maxMB, 1)} MB `
      + `(its own, RssAnon: max ${fixed(s.rss.maxAnonMB, 1)} MB), `
      + `slope ${fixed(s.rss.slopeKBPerMin, 1)} KB/min; largest new highs within a phase: ${fixed(s.rss.highGrowthMB, 1)} MB`,
    `machine busy (of ${run.cpuCount} CPUs) by phase: `
      + s.load.map((l) => `${l.phase} ${fixed(l.busyCpus, 2)} (others than the measured: ${fixed(l.otherCpus, 2)})`).join(', '),
    '',
    'goals:',
    ...goalLines,
  ].join('\n');
}
