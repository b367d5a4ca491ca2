// packaging/grafana/vmm-stats.json: a dashboard Grafana can import as it is (built-in panel types only,
// every query on the `datasource` variable, unique ids, panels that do not overlap), whose every panel
// query and variable query, with the variables substituted as Grafana substitutes them, parses and
// returns data for the test VMs from a real Prometheus scraping a real daemon.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTool, type InstantSample } from '../helpers/prometheus.js';
import { startScrapedVms, type ScrapedVms } from '../helpers/scraped-vms.js';

interface Datasource { type: string; uid: string }
interface Target { refId: string; expr: string; datasource?: Datasource }
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: Datasource;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: Datasource;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../packaging/grafana/vmm-stats.json', import.meta.url), 'utf8')) as Dashboard;

const DATASOURCE: Datasource = { type: 'prometheus', uid: '${datasource}' };
/** Panel types Grafana ships with: the dashboard must need no plugin. */
const BUILT_IN_PANELS = new Set(['row', 'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'text', 'heatmap']);
/** Grafana's own interval variables, and what the test gives them (Prometheus scrapes every second). */
const GRAFANA_INTERVALS: Record<string, string> = { __rate_interval: '30s', __interval: '15s', __range: '5m' };

/** Names that need regex escaping, as VM names may. */
const VM_NAMES = ['tenant.web', 'tenant.db+1 (replica)'];

const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));

function variableQuery(variable: Variable): string {
  return typeof variable.query === 'string' ? variable.query : variable.query.query;
}

/**
 * What Grafana's Prometheus data source puts in a query for a selection of values: each escaped for a
 * regex, then for a PromQL string; several as an alternation.
 */
function regexOf(values: string[]): string {
  const escaped = values.map((value) => value.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&').replace(/[\\"]/g, '\\$&'));
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

/** The expression with every variable replaced; throws on a variable the dashboard does not define. */
function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    const value = values[name] ?? GRAFANA_INTERVALS[name];
    if (value === undefined) throw new Error(`${expr}: ${whole} is neither a variable of the dashboard nor Grafana's`);
    return value;
  });
}

describe('the Grafana dashboard', () => {
  it('is of a recent schema, with a uid, and panels of built-in types only with unique ids', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('vmm-stats');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) expect(BUILT_IN_PANELS, panel.title).toContain(panel.type);
    expect(dashboard.panels.filter((panel) => panel.type === 'row').map((row) => row.title))
      .toEqual(['Hosts', 'VMs', 'vmm-stats itself']);
  });

  it('queries the `datasource` variable in every panel and target, and in every query variable', () => {
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(panels.length).toBeGreaterThanOrEqual(15);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = panel.targets!.map((target) => target.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const target of panel.targets!) expect(target.datasource, panel.title).toEqual(DATASOURCE);
    }
    for (const variable of variables.values()) {
      if (variable.type === 'query') expect(variable.datasource, variable.name).toEqual(DATASOURCE);
    }
  });

  it('has host and VM variables, several values or all of them at once', () => {
    expect(variableQuery(variables.get('instance')!)).toBe('label_values(vmm_stats_vms, instance)');
    expect(variableQuery(variables.get('vm')!)).toMatch(/^label_values\(vmm_stats_vm_cpu_user_seconds_total\{.*\}, vm\)$/);
    for (const name of ['instance', 'vm']) {
      expect(variables.get(name), name).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.+' });
    }
  });

  it('lays its panels out on the 24-column grid without overlaps', () => {
    const taken = new Map<string, string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const cell = `${column},${row}`;
          expect(taken.get(cell), `${panel.title} overlaps`).toBeUndefined();
          taken.set(cell, panel.title);
        }
      }
    }
  });
});

const prometheus = findTool('prometheus');
if (!prometheus) console.warn('skipping the dashboard\'s queries: prometheus is not on PATH (Debian package "prometheus")');

describe.skipIf(!prometheus)('the Grafana dashboard\'s queries on a real Prometheus', () => {
  let vms: ScrapedVms;

  beforeAll(async () => {
    vms = await startScrapedVms(prometheus!, VM_NAMES);
  });

  afterAll(async () => {
    await vms?.stop();
  });

  /** Every target's series for the selection, checked to be numbers of the selected host and VMs. */
  async function checkEveryTarget(values: Record<string, string>, selectedVms: string[]): Promise<void> {
    for (const panel of panels) {
      for (const target of panel.targets!) {
        const what = `${panel.title} ${target.refId}: ${target.expr}`;
        const series = await vms.prom.query<InstantSample>(substitute(target.expr, values));
        expect(series.length, what).toBeGreaterThan(0);
        for (const { metric, value } of series) {
          expect(Number.isFinite(Number(value[1])), `${what} = ${value[1]}`).toBe(true);
          expect(metric.instance, what).toBe(vms.instance);
        }
        if (target.expr.includes('$vm')) expect(new Set(series.map((s) => s.metric.vm)), what).toEqual(new Set(selectedVms));
      }
    }
  }

  it('returns data for the selected VMs from every panel query', async () => {
    await checkEveryTarget({ instance: regexOf([vms.instance]), vm: regexOf(VM_NAMES) }, VM_NAMES);
  });

  it('returns data for the one VM selected, and for every host and VM under All', async () => {
    await checkEveryTarget({ instance: regexOf([vms.instance]), vm: regexOf([VM_NAMES[1]!]) }, [VM_NAMES[1]!]);
    const all = variables.get('vm')!.allValue!;
    await checkEveryTarget({ instance: all, vm: all }, VM_NAMES);
  });

  it('offers the host and the VMs in its variables', async () => {
    const values = { instance: regexOf([vms.instance]) };
    const offered = async (name: string): Promise<string[]> => {
      const query = substitute(variableQuery(variables.get(name)!), values);
      const [, selector, label] = /^label_values\((.*), (\w+)\)$/.exec(query)!;
      return vms.prom.get<string[]>(`/api/v1/label/${label}/values?match[]=${encodeURIComponent(selector!)}`);
    };
    expect(await offered('instance')).toEqual([vms.instance]);
    expect((await offered('vm')).sort()).toEqual([...VM_NAMES].sort());
  });
});
