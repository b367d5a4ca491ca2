// Reading the daemon's V8 CPU profile (node --cpu-prof): where its non-idle time went, by function and by
// file, self time only.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  path: string;
  busyMs: number;
  topFunctions: { name: string; ms: number; share: number }[];
  topFiles: { file: string; ms: number; share: number }[];
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function fileOf(url: string): string {
  if (url === '') return '(native/V8)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(repoRoot) ? relative(repoRoot, path) : path.replace(/^.*\/node_modules\//, 'node_modules/');
}

function top<T extends string>(times: Map<T, number>, busy: number, count: number): { key: T; ms: number; share: number }[] {
  return [...times]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, us]) => ({ key, ms: us / 1000, share: us / busy }));
}

/** The one .cpuprofile in `dir`, summarised: `count` functions and files with the most self time. */
export function summariseProfile(dir: string, count = 15): ProfileSummary {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}: did the daemon exit cleanly?`);
  const path = join(dir, file);
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    // A sample's time is the gap to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') return;
    busy += us;
    const where = fileOf(url);
    const name = `${functionName || '(anonymous)'} ${where}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  });
  return {
    path,
    busyMs: busy / 1000,
    topFunctions: top(byFunction, busy, count).map(({ key, ms, share }) => ({ name: key, ms, share })),
    topFiles: top(byFile, busy, count).map(({ key, ms, share }) => ({ file: key, ms, share })),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const line = (ms: number, share: number, what: string) =>
    `  ${ms.toFixed(0).padStart(8)} ms ${(share * 100).toFixed(1).padStart(5)}%  ${what}`;
  return [
    `daemon CPU profile ${summary.path}: ${summary.busyMs.toFixed(0)} ms busy (idle excluded), self time`,
    'by function:',
    ...summary.topFunctions.map((f) => line(f.ms, f.share, f.name)),
    'by file:',
    ...summary.topFiles.map((f) => line(f.ms, f.share, f.file)),
  ].join('\n');
}
