// packaging/prometheus/vmm-stats.rules.yml: valid for `promtool check rules`, passing its unit tests
// (vmm-stats.rules.test.yml) under `promtool test rules`, with a firing and a quiet case for every
// alert; and evaluated by a real Prometheus on the daemon's real series, where a VM whose process is
// killed makes VmmStatsVmGone pending.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTool, waitFor, type InstantSample } from '../helpers/prometheus.js';
import { startScrapedVms, type ScrapedVms } from '../helpers/scraped-vms.js';

const rulesDir = fileURLToPath(new URL('../../packaging/prometheus/', import.meta.url));
const rulesPath = join(rulesDir, 'vmm-stats.rules.yml');
const unitTestsPath = join(rulesDir, 'vmm-stats.rules.test.yml');
const rules = readFileSync(rulesPath, 'utf8');
const unitTests = readFileSync(unitTestsPath, 'utf8');

const promtool = findTool('promtool');
if (!promtool) console.warn('skipping the rules\' promtool tests: promtool is not on PATH (Debian package "prometheus")');
const prometheus = findTool('prometheus');
if (!prometheus) console.warn('skipping the rules on real series: prometheus is not on PATH (Debian package "prometheus")');

const alertNames = [...rules.matchAll(/^ {6}- alert: (\S+)$/gm)].map((m) => m[1]!);
const recordNames = [...rules.matchAll(/^ {6}- record: (\S+)$/gm)].map((m) => m[1]!);

function run(...args: string[]) {
  const result = spawnSync(promtool!, args, { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

describe.skipIf(!promtool)('the Prometheus rules under promtool', () => {
  it('pass `promtool check rules`, every rule found', () => {
    expect(alertNames.length).toBeGreaterThanOrEqual(5);
    expect(recordNames.length).toBeGreaterThanOrEqual(5);
    const checked = run('check', 'rules', rulesPath);
    expect(checked.output).toContain(`SUCCESS: ${alertNames.length + recordNames.length} rules found`);
    expect(checked.status).toBe(0);
  });

  it('pass their unit tests', () => {
    const tested = run('test', 'rules', unitTestsPath);
    expect(tested.output).toContain('SUCCESS');
    expect(tested.status).toBe(0);
  });

  it('have a unit test for every recording rule, and a firing and a quiet case for every alert', () => {
    for (const record of recordNames) expect(unitTests, record).toMatch(new RegExp(`- expr: ${record}\\b`));
    for (const alert of alertNames) {
      expect(unitTests, `${alert} quiet`).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts: \\[\\]`));
      expect(unitTests, `${alert} firing`).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`));
    }
  });

  it('fail their unit tests when an alert loses its guard, so that their passing means something', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-rules-'));
    try {
      const unguarded = rules.replace('and on (job, instance) (up == 1)', '');
      expect(unguarded).not.toBe(rules);
      writeFileSync(join(dir, 'vmm-stats.rules.yml'), unguarded);
      copyFileSync(unitTestsPath, join(dir, 'vmm-stats.rules.test.yml'));
      const tested = run('test', 'rules', join(dir, 'vmm-stats.rules.test.yml'));
      expect(tested.status).not.toBe(0);
      expect(tested.output).toContain('alertname: VmmStatsVmGone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const VM_NAMES = ['tenant.web', 'tenant.db'];

describe.skipIf(!prometheus)('the Prometheus rules on the daemon\'s real series', () => {
  let vms: ScrapedVms;

  beforeAll(async () => {
    vms = await startScrapedVms(prometheus!, VM_NAMES, rules);
  });

  afterAll(async () => {
    await vms?.stop();
  });

  it('record a value for every VM, or every host, with no rule failing', async () => {
    for (const record of recordNames) {
      const series = await waitFor(`${record} to be recorded`, async () => {
        const result = await vms.prom.query<InstantSample>(record);
        return result.length > 0 ? result : undefined;
      });
      for (const { metric, value } of series) {
        expect(metric.instance, record).toBe(vms.instance);
        expect(Number.isFinite(Number(value[1])), `${record} = ${value[1]}`).toBe(true);
      }
      if (record.startsWith('instance_vm')) expect(new Set(series.map((s) => s.metric.vm)), record).toEqual(new Set(VM_NAMES));
    }
    const { groups } = await vms.prom.get<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
      '/api/v1/rules');
    const evaluated = groups.flatMap((group) => group.rules);
    expect(evaluated.map((rule) => rule.name).sort()).toEqual([...alertNames, ...recordNames].sort());
    for (const rule of evaluated) expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' })
      .toEqual({ rule: rule.name, health: 'ok', error: '' });
  });

  it('compare ticks with the interval the daemon serves', async () => {
    const [interval] = await vms.prom.query<InstantSample>('vmm_stats_collector_interval_seconds');
    expect(interval?.value[1]).toBe('0.5');
    const overrunning = await vms.prom.query<InstantSample>('ALERTS{alertname="VmmStatsCollectorTicksOverrunning"}');
    expect(overrunning).toEqual([]);
  });

  it('make VmmStatsVmGone pending for the VM whose process is killed, and for no other', async () => {
    const gone = 'ALERTS{alertname="VmmStatsVmGone"}';
    expect(await vms.prom.query<InstantSample>(gone)).toEqual([]);
    const killed = VM_NAMES[1]!;
    await vms.children.kill(vms.processes.get(killed)!);
    const alerts = await waitFor('VmmStatsVmGone', async () => {
      const result = await vms.prom.query<InstantSample>(gone);
      return result.length > 0 ? result : undefined;
    });
    expect(alerts.map((a) => a.metric)).toEqual([expect.objectContaining({
      alertstate: 'pending', severity: 'warning', vm: killed, instance: vms.instance,
    })]);
  });
});
