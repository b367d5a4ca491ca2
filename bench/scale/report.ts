// From the phases' raw figures to the report: the derived figures, the goals, a table and a JSON line.
import type { PhaseResult } from './measure.js';
import type { Responsiveness } from './responsiveness.js';
import { median, quantile, slope } from './statistics.js';

export interface FloorResult {
  /** What the floor program is and does, for the table. */
  label: string;
  ticks: number;
  cpuSecondsPerTick: number;
  wallSecondsPerTick: number;
  /** The tick's CPU by kernel source, and (not in the tick) what RTM_GETSTATS costs for the same counters. */
  partsSecondsPerTick: { proc: number; taskstats: number; links: number; getstats: number };
}

export interface RunInfo {
  vms: number;
  intervalSeconds: number;
  subscribers: number;
  tenants: number;
  probeEveryMs: number;
  tapsPerVm: number;
  rounds: number;
  phaseSeconds: number;
  registerSeconds: number;
  slowTickLines: number;
  /** Links in the host's namespace when measuring began: a link dump's cost grows with them. */
  links: number;
  cpuCount: number;
  machine: Record<string, string>;
  command: string;
}

/** Each phase's results, one per round. */
export interface Phases {
  /** Subscribed to every VM, no scrapes: the tick with encoding and sending. */
  subscribed: PhaseResult[];
  /** Many connections, each subscribed to one tenant: the same Data, sent to more subscribers. */
  fanOut: PhaseResult[];
  /** Nobody subscribed, our /metrics scraped every second: what serving Prometheus costs, tick included. */
  scraped: PhaseResult[];
  /** Nobody subscribed, the peers scraped in turn: their cost, and our tick with nothing to send. */
  peers: PhaseResult[];
}

/** The median of the rounds, and their range. */
export interface Figure {
  median: number;
  min: number;
  max: number;
}

export interface Latencies {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface ScrapeFigures {
  scrapes: number;
  /** Seconds between scrapes on average: a peer whose scrape takes longer than a second is scraped less often. */
  periodSeconds: number;
  cpuMsPerScrape: Figure;
  latencyMedianMs: number;
  latencyP99Ms: number;
  bytesMedian: number;
  encoding: string;
}

export interface Summary {
  run: RunInfo;
  floor: { label: string; ticks: number; cpuMsPerTick: Figure; wallMsPerTick: Figure; partsMsPerTick: Record<string, number> };
  tick: {
    ticks: number;
    cpuMsPerTick: Figure;
    /** With nobody subscribed: the sampling the metrics endpoint keeps going, nothing encoded or sent. */
    unsubscribedCpuMsPerTick: Figure;
    userShare: number;
    samplingWallMsPerTick: number;
    dataFramesPerTick: number;
    /** Each round's tick over the floor measured at the same time. */
    timesFloor: Figure;
  };
  fanOut: {
    cpuMsPerTick: Figure;
    dataFramesPerTick: number;
    /** Each round's fan-out tick over its tick with one subscriber to everything. */
    timesOneSubscriber: Figure;
  };
  /** The probe's replies over the whole run, and per kind of phase. */
  responsiveness: (Latencies & { failures: number; byPhase: Record<string, Latencies> }) | undefined;
  /** How long the ticks held the daemon's event loop at once, from its histogram, over every phase. */
  blocking: { ticks: number; over20Ms: number; longestAtMostMs: number };
  /** The daemon's CPU while nobody is subscribed and nobody scrapes it (the peers' phase), in % of a core. */
  idleCpuPercent: number;
  ours: { scrapeOnly: ScrapeFigures; withTick: ScrapeFigures };
  peers: Record<string, ScrapeFigures>;
  /** CPU the peers used per second while nobody scraped them: the check that all their work is the scrapes'. */
  peersIdleCpuMsPerSecond: Record<string, number>;
  peersCpuMsPerScrape: Figure;
  /** Each round's scrape + tick over the peers' scrapes of the same round. */
  oursOverPeers: Figure;
  rss: {
    startMB: number;
    endMB: number;
    maxMB: number;
    /** The largest RssAnon: the part of the RSS that is the daemon's own, not the node binary's shared text. */
    maxAnonMB: number;
    slopeKBPerMin: number;
    /** The highest RSS of the run's second half less the highest of its first half. */
    newHighsMB: number;
    /** The largest RSS while each kind of phase ran: which work makes the peak. */
    maxByPhaseMB: Record<string, number>;
  };
  /** Per phase: CPUs the machine kept busy, and how many of them went to others than the processes measured,
   * the floor and the harness (another load on the machine makes every figure noisier). */
  load: { phase: string; busyCpus: number; otherCpus: number }[];
  goals: { goal: string; value: string; met: boolean }[];
}

const DAEMON = 'vmm-stats';
const ms = (seconds: number) => seconds * 1000;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

export function figure(values: number[]): Figure {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

function scrapeFigures(phases: PhaseResult[], service: string, cpuMsPerScrape: number[]): ScrapeFigures {
  const scrapes = phases.flatMap((phase) => phase.scrapes[service] ?? []);
  return {
    scrapes: scrapes.length,
    periodSeconds: sum(phases.map((phase) => phase.wallSeconds)) / scrapes.length,
    cpuMsPerScrape: figure(cpuMsPerScrape),
    latencyMedianMs: ms(median(scrapes.map((s) => s.seconds))),
    latencyP99Ms: ms(quantile(scrapes.map((s) => s.seconds), 0.99)),
    bytesMedian: median(scrapes.map((s) => s.bytes)),
    encoding: scrapes[0]?.encoding ?? 'none',
  };
}

function scrapeCount(phase: PhaseResult, service: string): number {
  return phase.scrapes[service]?.length ?? 0;
}

const cpuPerTick = (phase: PhaseResult) => phase.cpu[DAEMON]!.runSeconds / phase.windowTicks;

function repliesWithin(probe: Responsiveness, list: readonly PhaseResult[]): [number, number][] {
  return probe.replies.filter(([at]) => list.some((phase) => at >= phase.epoch.fromMs && at <= phase.epoch.toMs));
}

/**
 * Start, end, max and least-squares slope over the run; and the new highs that tell a leak from the
 * garbage collector's sawtooth: the rounds repeat the same phases, so without a leak the run's second
 * half reaches no higher than its first.
 */
function rssFigures(byPhase: Record<string, PhaseResult[]>): Summary['rss'] {
  const phases = Object.values(byPhase).flat();
  const series = phases.flatMap((phase) => phase.memory).sort((a, b) => a.atSeconds - b.atSeconds);
  const rss = series.map((m) => m.rssBytes);
  const half = Math.floor(rss.length / 2);
  const mb = (bytes: number) => bytes / 2 ** 20;
  const maxOf = (kind: PhaseResult[]) => mb(Math.max(...kind.flatMap((phase) => phase.memory.map((m) => m.rssBytes))));
  return {
    maxByPhaseMB: Object.fromEntries(Object.entries(byPhase).map(([kind, list]) => [kind, maxOf(list)])),
    startMB: mb(rss[0]!),
    endMB: mb(rss[rss.length - 1]!),
    maxMB: mb(Math.max(...rss)),
    maxAnonMB: mb(Math.max(...series.map((m) => m.anonBytes))),
    slopeKBPerMin: (slope(series.map((m) => [m.atSeconds, m.rssBytes])) * 60) / 1024,
    newHighsMB: mb(Math.max(...rss.slice(half)) - Math.max(...rss.slice(0, half))),
  };
}

function machineLoad(name: string, phases: PhaseResult[], floorSeconds: number): Summary['load'][number] {
  const wall = sum(phases.map((phase) => phase.wallSeconds));
  const busy = sum(phases.map((phase) => phase.machineBusySeconds));
  const measured = sum(phases.flatMap((phase) => [phase.harnessSeconds, ...Object.values(phase.cpu).map((cpu) => cpu.runSeconds)]));
  return { phase: name, busyCpus: busy / wall, otherCpus: Math.max(0, busy - measured - floorSeconds) / wall };
}

function latencies(millis: number[]): Latencies {
  return { count: millis.length, p50Ms: median(millis), p99Ms: quantile(millis, 0.99), maxMs: millis.length === 0 ? NaN : Math.max(...millis) };
}

function responsivenessFigures(probe: Responsiveness | undefined, phases: Phases): Summary['responsiveness'] {
  if (probe === undefined) return undefined;
  const within = (list: PhaseResult[]) => repliesWithin(probe, list).map(([, millis]) => millis);
  const byPhase = Object.fromEntries(Object.entries(phases).map(([kind, list]: [string, PhaseResult[]]) => [kind, latencies(within(list))]));
  return { ...latencies(within(Object.values(phases).flat())), failures: probe.failures, byPhase };
}

/** The phases' blocking histograms added up: how many ticks held the loop over 20 ms, and a bound on the longest. */
function blockingFigures(phases: Phases): Summary['blocking'] {
  const all = Object.values(phases).flat().map((phase: PhaseResult) => phase.ticks.blocking);
  const buckets = all[0]!.map(([le], i): [number, number] => [le, sum(all.map((histogram) => histogram[i]![1]))]);
  const ticks = buckets[buckets.length - 1]![1];
  const within20 = buckets.find(([le]) => le === 0.02)?.[1] ?? NaN;
  const longest = buckets.find(([, count]) => count === ticks)![0];
  return { ticks, over20Ms: ticks - within20, longestAtMostMs: ms(longest) };
}

export function summarise(run: RunInfo, floors: FloorResult[], phases: Phases, probe: Responsiveness | undefined): Summary {
  const { subscribed, fanOut: fanOutPhases, scraped, peers: peerPhases } = phases;
  const tickCpu = subscribed.map(cpuPerTick);
  const unsubscribedTick = peerPhases.map(cpuPerTick);
  const floorCpu = floors.map((floor) => floor.cpuSecondsPerTick);
  const user = sum(subscribed.map((phase) => phase.cpu[DAEMON]!.userSeconds));
  const system = sum(subscribed.map((phase) => phase.cpu[DAEMON]!.systemSeconds));
  const ticks = sum(subscribed.map((phase) => phase.windowTicks));
  const tick = {
    ticks,
    cpuMsPerTick: figure(tickCpu.map(ms)),
    unsubscribedCpuMsPerTick: figure(unsubscribedTick.map(ms)),
    userShare: user / (user + system),
    samplingWallMsPerTick: ms(sum(subscribed.map((phase) => phase.ticks.seconds)) / sum(subscribed.map((phase) => phase.ticks.ticks))),
    dataFramesPerTick: sum(subscribed.map((phase) => phase.dataFrames)) / ticks,
    timesFloor: figure(tickCpu.map((cpu, round) => cpu / floorCpu[round]!)),
  };
  // A scrape alone: the scraped phase's CPU less its ticks, each costing what a tick costs in the same
  // round with nobody subscribed and nobody scraping (the peers' phase). For Prometheus: that plus a tick.
  const scrapeAlone = scraped.map((phase, round) =>
    (phase.cpu[DAEMON]!.runSeconds - unsubscribedTick[round]! * phase.windowTicks) / scrapeCount(phase, DAEMON));
  const withTick = scrapeAlone.map((cpu, round) => cpu + unsubscribedTick[round]!);
  const ours = {
    scrapeOnly: scrapeFigures(scraped, DAEMON, scrapeAlone.map(ms)),
    withTick: scrapeFigures(scraped, DAEMON, withTick.map(ms)),
  };
  // Neither peer works between scrapes: all of its CPU is its scrapes'.
  const peerNames = Object.keys(peerPhases[0]!.scrapes);
  const peerCpu = (name: string) => peerPhases.map((phase) => phase.cpu[name]!.runSeconds / scrapeCount(phase, name));
  const peers = Object.fromEntries(peerNames.map((name) => [name, scrapeFigures(peerPhases, name, peerCpu(name).map(ms))]));
  const peersTogether = peerPhases.map((_, round) => sum(peerNames.map((name) => peerCpu(name)[round]!)));
  const unscraped = [...subscribed, ...fanOutPhases, ...scraped];
  const fanOutCpu = fanOutPhases.map(cpuPerTick);
  const fanOutTicks = sum(fanOutPhases.map((phase) => phase.windowTicks));
  const fanOut = {
    cpuMsPerTick: figure(fanOutCpu.map(ms)),
    dataFramesPerTick: sum(fanOutPhases.map((phase) => phase.dataFrames)) / fanOutTicks,
    timesOneSubscriber: figure(fanOutCpu.map((cpu, round) => cpu / tickCpu[round]!)),
  };
  const idleCpuPercent = (100 * sum(peerPhases.map((phase) => phase.cpu[DAEMON]!.runSeconds))) / sum(peerPhases.map((phase) => phase.wallSeconds));
  const idleCpu = (name: string) =>
    ms(sum(unscraped.map((phase) => phase.cpu[name]!.runSeconds))) / sum(unscraped.map((phase) => phase.wallSeconds));
  return withGoals({
    run,
    floor: {
      label: floors[0]!.label,
      ticks: sum(floors.map((floor) => floor.ticks)),
      cpuMsPerTick: figure(floorCpu.map(ms)),
      wallMsPerTick: figure(floors.map((floor) => ms(floor.wallSecondsPerTick))),
      partsMsPerTick: Object.fromEntries((['proc', 'taskstats', 'links', 'getstats'] as const)
        .map((part) => [part, median(floors.map((floor) => ms(floor.partsSecondsPerTick[part])))])),
    },
    tick,
    fanOut,
    responsiveness: responsivenessFigures(probe, phases),
    blocking: blockingFigures(phases),
    idleCpuPercent,
    ours,
    peers,
    peersIdleCpuMsPerSecond: Object.fromEntries(peerNames.map((name) => [name, idleCpu(name)])),
    peersCpuMsPerScrape: figure(peersTogether.map(ms)),
    oursOverPeers: figure(withTick.map((cpu, round) => cpu / peersTogether[round]!)),
    rss: rssFigures({ subscribed, fanOut: fanOutPhases, scraped, peers: peerPhases }),
    load: [
      machineLoad('subscribed', subscribed, sum(floors.map((floor) => floor.cpuSecondsPerTick * (floor.ticks + 1)))),
      machineLoad('fan-out', fanOutPhases, 0),
      machineLoad('scraped', scraped, 0),
      machineLoad('peers', peerPhases, 0),
    ],
  });
}

/** New highs in the second half of the run beyond this are a leak, not the garbage collector's sawtooth. */
const FLAT_MB = 2;
/** From here on the goals of ten thousand VMs apply (issue 16); below, those set at a thousand. */
const LARGE_HOST_VMS = 10_000;

type Goal = Summary['goals'][number];

function goal(text: string, value: string, met: boolean): Goal {
  return { goal: text, value, met };
}

function responsivenessGoals(s: Omit<Summary, 'goals'>): Goal[] {
  const r = s.responsiveness;
  if (r === undefined) return [];
  return [
    goal('request latency p99 <= 20 ms during ticks', `${fixed(r.p99Ms, 1)} ms`, r.p99Ms <= 20),
    goal('request latency max <= 100 ms', `${fixed(r.maxMs, 1)} ms`, r.maxMs <= 100),
    goal('every request answered', `${r.failures} failed`, r.failures === 0),
  ];
}

function withGoals(s: Omit<Summary, 'goals'>): Summary {
  const large = s.run.vms >= LARGE_HOST_VMS;
  const peerShare = large ? 0.1 : 0.25;
  const rssLimit = large ? 150 : 100;
  const registerLimit = s.run.vms / LARGE_HOST_VMS;
  const goals = [
    goal('tick CPU within 1.5x of the C floor', `${s.tick.timesFloor.median.toFixed(2)}x`, s.tick.timesFloor.median <= 1.5),
    goal(`scrape + its tick <= 1/${1 / peerShare} of process-exporter + node_exporter CPU`, s.oursOverPeers.median.toFixed(3),
      s.oursOverPeers.median <= peerShare),
    goal('scrape latency p99 <= 1 s', `${fixed(s.ours.withTick.latencyP99Ms, 1)} ms`, s.ours.withTick.latencyP99Ms <= 1000),
    goal(`daemon RSS <= ${rssLimit} MB`, `max ${s.rss.maxMB.toFixed(1)} MB`, s.rss.maxMB <= rssLimit),
    goal(`daemon RSS flat (new highs in the run's second half < ${FLAT_MB} MB)`, `${s.rss.newHighsMB.toFixed(1)} MB`, s.rss.newHighsMB < FLAT_MB),
    ...responsivenessGoals(s),
    goal('no tick holds the event loop over 20 ms at once', `${s.blocking.over20Ms} of ${s.blocking.ticks} ticks over; longest <= ${s.blocking.longestAtMostMs} ms`,
      s.blocking.over20Ms === 0),
    goal(`registering ${s.run.vms} VMs (pipelined Adds) <= ${fixed(registerLimit, 2)} s`, `${fixed(s.run.registerSeconds, 2)} s`,
      s.run.registerSeconds <= registerLimit),
    goal(`fan-out (${s.run.subscribers} subscribers over ${s.run.tenants} tenants) <= 1.2x the tick with one subscriber`,
      `${s.fanOut.timesOneSubscriber.median.toFixed(2)}x`, s.fanOut.timesOneSubscriber.median <= 1.2),
  ];
  if (s.run.vms <= 10 && s.run.intervalSeconds >= 10 && s.run.probeEveryMs === 0) {
    goals.push(goal('the idle daemon (10 VMs, 10 s interval) uses <= 0.1% of a core', `${fixed(s.idleCpuPercent, 3)}%`, s.idleCpuPercent <= 0.1));
  }
  return { ...s, goals };
}

export const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((cells) => cells[i]!.length)));
  return [row(header, widths), ...rows.map((cells) => row(cells, widths))].join('\n');
}

/** A figure with its range over the rounds when there are several. */
export function ranged(f: Figure, digits: number): string {
  return f.min === f.max ? fixed(f.median, digits) : `${fixed(f.median, digits)} (${fixed(f.min, digits)}-${fixed(f.max, digits)})`;
}

function scrapeRow(name: string, f: ScrapeFigures): string[] {
  return [name, ranged(f.cpuMsPerScrape, 2), fixed(f.latencyMedianMs, 1), fixed(f.latencyP99Ms, 1),
    `${Math.round(f.bytesMedian)} (${f.encoding})`, `${f.scrapes} (every ${fixed(f.periodSeconds, 1)} s)`];
}

function responsivenessLines(s: Summary): string[] {
  const r = s.responsiveness;
  if (r === undefined) return ['requests: no probe (--probe-every 0)'];
  const row = (name: string, l: Latencies) => [name, String(l.count), fixed(l.p50Ms, 2), fixed(l.p99Ms, 2), fixed(l.maxMs, 1)];
  return [
    table(
      [`request every ${s.run.probeEveryMs} ms (Subscribe), replies`, 'replies', 'p50 ms', 'p99 ms', 'max ms'],
      [row('measured phases', r), ...Object.entries(r.byPhase).filter(([, l]) => l.count > 0).map(([phase, l]) => row(`  during ${phase}`, l))],
    ),
    `  failed requests: ${r.failures}; the probe pauses in the subscribed and fan-out phases, whose ticks are compared `
      + 'with the floor and with each other: what answering it costs the daemon would count in their ticks',
  ];
}

const perVm = (f: Figure, vms: number): Figure => ({ median: (f.median * 1000) / vms, min: (f.min * 1000) / vms, max: (f.max * 1000) / vms });

export function formatSummary(s: Summary): string {
  const { run } = s;
  const ticks = table(
    [`per tick (interval ${run.intervalSeconds} s)`, 'CPU ms/tick', 'CPU µs/VM', 'wall ms/tick', 'ticks'],
    [
      [s.floor.label, ranged(s.floor.cpuMsPerTick, 3), ranged(perVm(s.floor.cpuMsPerTick, run.vms), 2),
        fixed(s.floor.wallMsPerTick.median, 3), String(s.floor.ticks)],
      ['vmm-stats tick: sample + encode + send Data', ranged(s.tick.cpuMsPerTick, 3), ranged(perVm(s.tick.cpuMsPerTick, run.vms), 2),
        `${fixed(s.tick.samplingWallMsPerTick, 3)} (sampling)`, String(s.tick.ticks)],
      [`vmm-stats tick, fan-out: ${run.subscribers} subscribers, ${run.tenants} tenants`, ranged(s.fanOut.cpuMsPerTick, 3),
        ranged(perVm(s.fanOut.cpuMsPerTick, run.vms), 2), '', ''],
      ['vmm-stats tick, nobody subscribed', ranged(s.tick.unsubscribedCpuMsPerTick, 3),
        ranged(perVm(s.tick.unsubscribedCpuMsPerTick, run.vms), 2), '', ''],
    ],
  );
  const peerRows = Object.entries(s.peers).map(([name, f]) => scrapeRow(name, f));
  const scrapes = table(
    ['per scrape (at most 1/s)', 'CPU ms', 'latency p50 ms', 'p99 ms', 'bytes', 'scrapes (period)'],
    [
      scrapeRow('vmm-stats /metrics (the scrape alone)', s.ours.scrapeOnly),
      scrapeRow('vmm-stats /metrics + the tick feeding it', s.ours.withTick),
      ...peerRows,
    ],
  );
  const goalLines = s.goals.map((g) => `  [${g.met ? 'met' : 'MISSED'}] ${g.goal}: ${g.value}`);
  return [
    `vmm-stats scale bench: ${run.vms} VMs x ${run.tapsPerVm} taps; ${run.rounds} rounds of four ${run.phaseSeconds}-s phases; `
      + 'figures: median of the rounds (range)',
    `registration of ${run.vms} VMs (pipelined Adds): ${fixed(run.registerSeconds, 2)} s; slow ticks logged: ${run.slowTickLines}; `
      + `links on the host: ${run.links}`,
    `Data frames per tick: ${fixed(s.tick.dataFramesPerTick, 1)}; user share of the tick's CPU: ${fixed(s.tick.userShare * 100, 0)}%`,
    '',
    ticks,
    `  the floor's CPU by source (ms/tick): /proc/<pid>/stat ${fixed(s.floor.partsMsPerTick.proc!, 2)}, taskstats `
      + `${fixed(s.floor.partsMsPerTick.taskstats!, 2)}, RTM_GETLINK dump ${fixed(s.floor.partsMsPerTick.links!, 2)}; `
      + `the same counters by an RTM_GETSTATS dump instead: ${fixed(s.floor.partsMsPerTick.getstats!, 2)}`,
    `  tick / floor (same round): ${ranged(s.tick.timesFloor, 2)}x; fan-out tick / tick with one subscriber: `
      + `${ranged(s.fanOut.timesOneSubscriber, 2)}x (${fixed(s.fanOut.dataFramesPerTick, 0)} Data frames per tick)`,
    `  ticks holding the event loop over 20 ms at once: ${s.blocking.over20Ms} of ${s.blocking.ticks}; the longest <= `
      + `${s.blocking.longestAtMostMs} ms; the daemon with nobody subscribed nor scraping: ${fixed(s.idleCpuPercent, 3)}% of a core`,
    '',
    ...responsivenessLines(s),
    '',
    scrapes,
    `  peers together: ${ranged(s.peersCpuMsPerScrape, 2)} ms CPU per scrape; ours (scrape + tick) / peers: ${ranged(s.oursOverPeers, 3)}`,
    `  peers while not scraped (ms CPU per second): `
      + Object.entries(s.peersIdleCpuMsPerSecond).map(([name, cpu]) => `${name} ${fixed(cpu, 2)}`).join(', '),
    '',
    `daemon RSS: start ${fixed(s.rss.startMB, 1)} MB, end ${fixed(s.rss.endMB, 1)} MB, max ${fixed(s.rss.maxMB, 1)} MB `
      + `(its own, RssAnon: max ${fixed(s.rss.maxAnonMB, 1)} MB); slope ${fixed(s.rss.slopeKBPerMin, 1)} KB/min; `
      + `new highs in the second half: ${fixed(s.rss.newHighsMB, 1)} MB; max by phase: `
      + Object.entries(s.rss.maxByPhaseMB).map(([kind, max]) => `${kind} ${fixed(max, 1)} MB`).join(', '),
    `machine busy (of ${run.cpuCount} CPUs) by phase: `
      + s.load.map((l) => `${l.phase} ${fixed(l.busyCpus, 2)} (others than the measured: ${fixed(l.otherCpus, 2)})`).join(', '),
    '',
    'goals:',
    ...goalLines,
  ].join('\n');
}
