// Reading the daemon's V8 CPU profile (node --cpu-prof): where its time went in each phase's window, by
// function and by file, self time, idle excluded.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A phase's windows on the monotonic clock, one per round. */
export interface ProfileWindow {
  name: string;
  ranges: { fromUs: number; toUs: number }[];
}

interface Share {
  what: string;
  ms: number;
  share: number;
}

export interface WindowSummary {
  name: string;
  seconds: number;
  busyMs: number;
  topFunctions: Share[];
  topFiles: Share[];
}

export interface ProfileSummary {
  path: string;
  windows: WindowSummary[];
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function fileOf(url: string): string {
  if (url === '') return '(native, V8, GC)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(repoRoot) ? relative(repoRoot, path) : path.replace(/^.*\/node_modules\//, 'node_modules/');
}

function top(times: Map<string, number>, busyUs: number, count: number): Share[] {
  return [...times]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([what, us]) => ({ what, ms: us / 1000, share: us / busyUs }));
}

function summariseWindow(profile: CpuProfile, byId: Map<number, ProfileNode>, window: ProfileWindow, count: number): WindowSummary {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i]!;
    // A sample's time is the gap to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (!window.ranges.some((range) => at >= range.fromUs && at < range.toUs)) return;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') return;
    busy += us;
    const where = fileOf(url);
    const name = `${functionName || '(anonymous)'} ${where}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  });
  return {
    name: window.name,
    seconds: window.ranges.reduce((total, range) => total + range.toUs - range.fromUs, 0) / 1e6,
    busyMs: busy / 1000,
    topFunctions: top(byFunction, busy, count),
    topFiles: top(byFile, busy, count),
  };
}

/** The one .cpuprofile in `dir`, summarised over each window: the `count` functions and files with the most self time. */
export function summariseProfile(dir: string, windows: ProfileWindow[], count = 12): ProfileSummary {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}: did the daemon exit cleanly?`);
  const path = join(dir, file);
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  return { path, windows: windows.map((window) => summariseWindow(profile, byId, window, count)) };
}

export function formatProfile(summary: ProfileSummary): string {
  const line = ({ what, ms, share }: Share) => `  ${ms.toFixed(0).padStart(7)} ms ${(share * 100).toFixed(1).padStart(5)}%  ${what}`;
  return [
    `daemon CPU profile ${summary.path} (main thread only; the profiler slows the daemon down), self time:`,
    ...summary.windows.flatMap((w) => [
      `phase ${w.name}: ${w.busyMs.toFixed(0)} ms busy in ${w.seconds.toFixed(0)} s; by function:`,
      ...w.topFunctions.map(line),
      '  by file:',
      ...w.topFiles.map(line),
    ]),
  ].join('\n');
}
