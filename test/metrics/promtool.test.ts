// `promtool check metrics` parses and lints our text-format output. It reads the Prometheus text format
// only (OpenMetrics' `# EOF`, `# UNIT` and counter family names are not its grammar), so the OpenMetrics
// rendering is checked by a real Prometheus scraping it, in prometheus.test.ts.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { findTool } from '../helpers/prometheus.js';
import { hypervisorCounters, ifdata, ODD_NAMES, renderMetrics, SELF, vm } from './fixtures.js';

const promtool = findTool('promtool');
if (!promtool) console.warn('skipping promtool tests: promtool is not on PATH (Debian package "prometheus")');

function check(exposition: string) {
  const result = spawnSync(promtool!, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(!promtool)('promtool check metrics', () => {
  it('reports no problems for VMs with odd names, taps and many hypervisor counters', () => {
    const vms = ODD_NAMES.map((name, i) =>
      vm(name, [ifdata(`tap${i}`), ifdata(`tap"${i}\\\n`)], hypervisorCounters(40)));
    const exposition = renderMetrics(vms, SELF, 'prometheus', 0.012);
    expect(exposition).toContain('vm="new\\nline"');
    expect(check(exposition)).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('reports no problems for the self-metrics alone', () => {
    expect(check(renderMetrics([], SELF, 'prometheus'))).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('does report a problem in broken output, so that its silence above means something', () => {
    const broken = renderMetrics([vm('a"b')], SELF, 'prometheus').replace('vm="a\\"b"', 'vm="a"b"');
    expect(check(broken).status).not.toBe(0);
    const unlinted = '# TYPE vmm_stats_thing_milliseconds counter\nvmm_stats_thing_milliseconds 1\n';
    const linted = check(unlinted);
    expect(linted.status).toBe(3);
    expect(linted.stdout + linted.stderr).toMatch(/no help text/);
  });
});
