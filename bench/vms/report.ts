// bench:vms's figures: CPU per scrape, latencies, series and bytes of both sides, and the agreement table.
import type { PhaseResult } from '../scale/measure.js';
import { figure, fixed, ranged, table, type Figure } from '../scale/report.js';
import { median, quantile } from '../scale/statistics.js';
import { CPU_TOLERANCE, type Agreement, type Pair } from './agreement.js';

export const OURS = 'vmm-stats';
export const EXPORTER = 'libvirt-exporter';
export const LIBVIRTD = 'libvirtd';

export interface Side {
  /** Samples in one scrape, and its size uncompressed. */
  series: number;
  textBytes: number;
}

export interface VmsRun {
  guests: number;
  accelerator: string;
  rounds: number;
  phaseSeconds: number;
  command: string;
  sides: { ours: Side; theirs: Side };
}

interface ScrapeSide {
  cpuMsPerScrape: Figure;
  latencyMedianMs: number;
  latencyP99Ms: number;
  /** As they crossed the wire (gzip when the endpoint offers it). */
  wireBytesMedian: number;
  encoding: string;
  scrapes: number;
}

export interface VmsSummary {
  run: VmsRun;
  ours: ScrapeSide;
  theirs: ScrapeSide & { exporterCpuMsPerScrape: Figure; libvirtdCpuMsPerScrape: Figure };
  /** libvirtd's CPU per second while only we were scraped: what it costs unasked. */
  libvirtdIdleCpuMsPerSecond: number;
  oursOverTheirs: Figure;
  agreement: Agreement[];
  goals: { goal: string; value: string; met: boolean }[];
}

const ms = (seconds: number) => seconds * 1000;
const scrapesOf = (phase: PhaseResult, name: string) => phase.scrapes[name] ?? [];
const cpuOf = (phase: PhaseResult, name: string) => phase.cpu[name]!.runSeconds;

function scrapeSide(phases: PhaseResult[], name: string, cpuPerScrape: number[]): ScrapeSide {
  const scrapes = phases.flatMap((phase) => scrapesOf(phase, name));
  return {
    cpuMsPerScrape: figure(cpuPerScrape.map(ms)),
    latencyMedianMs: ms(median(scrapes.map((s) => s.seconds))),
    latencyP99Ms: ms(quantile(scrapes.map((s) => s.seconds), 0.99)),
    wireBytesMedian: median(scrapes.map((s) => s.bytes)),
    encoding: scrapes[0]?.encoding ?? 'none',
    scrapes: scrapes.length,
  };
}

export function summarise(run: VmsRun, ourPhases: PhaseResult[], theirPhases: PhaseResult[], agreement: Agreement[]): VmsSummary {
  // Ours: all the daemon's CPU while it alone was scraped, its ticks included, since they feed the scrapes.
  const ourCpu = ourPhases.map((phase) => cpuOf(phase, OURS) / scrapesOf(phase, OURS).length);
  const perTheirScrape = (name: string) => theirPhases.map((phase) => cpuOf(phase, name) / scrapesOf(phase, EXPORTER).length);
  const exporterCpu = perTheirScrape(EXPORTER);
  const libvirtdCpu = perTheirScrape(LIBVIRTD);
  const theirCpu = exporterCpu.map((cpu, round) => cpu + libvirtdCpu[round]!);
  const idleWall = ourPhases.reduce((total, phase) => total + phase.wallSeconds, 0);
  const ratio = figure(ourCpu.map((cpu, round) => cpu / theirCpu[round]!));
  const agreed = agreement.filter((row) => row.agrees).length;
  return {
    run,
    ours: scrapeSide(ourPhases, OURS, ourCpu),
    theirs: {
      ...scrapeSide(theirPhases, EXPORTER, theirCpu),
      exporterCpuMsPerScrape: figure(exporterCpu.map(ms)),
      libvirtdCpuMsPerScrape: figure(libvirtdCpu.map(ms)),
    },
    libvirtdIdleCpuMsPerSecond: ms(ourPhases.reduce((total, phase) => total + cpuOf(phase, LIBVIRTD), 0)) / idleWall,
    oursOverTheirs: ratio,
    agreement,
    goals: [
      { goal: 'scrape + its tick <= 1/4 of the exporter + libvirtd per scrape', value: ratio.median.toFixed(3), met: ratio.median <= 0.25 },
      {
        goal: `every guest: CPU within ${CPU_TOLERANCE * 100}%, tap bytes and packets exactly`,
        value: `${agreed} of ${agreement.length}`,
        met: agreed === agreement.length,
      },
    ],
  };
}

const pair = (p: Pair, digits = 0) => `${fixed(p.ours, digits)} / ${fixed(p.theirs, digits)}`;

export function formatSummary(s: VmsSummary): string {
  const { run } = s;
  const side = (name: string, f: ScrapeSide, info: Side) => [name, ranged(f.cpuMsPerScrape, 2), fixed(f.latencyMedianMs, 1),
    fixed(f.latencyP99Ms, 1), String(info.series), `${Math.round(f.wireBytesMedian)} (${f.encoding})`, String(info.textBytes), String(f.scrapes)];
  const scrapes = table(
    ['per scrape (1/s)', 'CPU ms', 'latency p50 ms', 'p99 ms', 'series', 'bytes on the wire', 'bytes as text', 'scrapes'],
    [
      side('vmm-stats /metrics + the tick feeding it', s.ours, run.sides.ours),
      side('prometheus-libvirt-exporter + libvirtd', s.theirs, run.sides.theirs),
    ],
  );
  const agreement = table(
    ['guest', 'CPU s ours / libvirt', 'from_vm bytes / libvirt tx', 'to_vm bytes / libvirt rx', 'from_vm packets / tx',
      'to_vm packets / rx', 'agree'],
    s.agreement.map((row) => [row.guest, pair(row.cpuSeconds, 2), pair(row.fromVmBytes), pair(row.toVmBytes),
      pair(row.fromVmPackets), pair(row.toVmPackets), row.agrees ? 'yes' : 'NO']),
  );
  return [
    `vmm-stats against prometheus-libvirt-exporter: ${run.guests} guests (${run.accelerator}); ${run.rounds} rounds of two `
      + `${run.phaseSeconds}-s phases; figures: median of the rounds (range)`,
    '',
    scrapes,
    `  theirs split: exporter ${ranged(s.theirs.exporterCpuMsPerScrape, 2)} ms, libvirtd ${ranged(s.theirs.libvirtdCpuMsPerScrape, 2)} ms `
      + `per scrape; libvirtd unscraped: ${fixed(s.libvirtdIdleCpuMsPerSecond, 2)} ms CPU per second`,
    `  ours / theirs: ${ranged(s.oursOverTheirs, 3)}`,
    '',
    agreement,
    '',
    'goals:',
    ...s.goals.map((g) => `  [${g.met ? 'met' : 'MISSED'}] ${g.goal}: ${g.value}`),
  ].join('\n');
}
