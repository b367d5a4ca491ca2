// The overview page in a real headless browser (Debian's chromium, driven by playwright-core over the
// DevTools protocol), against a real daemon process with --metrics and real busy processes as its VMs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsClient } from '../../src/client/client.js';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { tapUnavailableReason, TapVmm, uniqueInterfaceName } from '../helpers/net.js';
import { ChildProcesses, eventually } from '../helpers/processes.js';

const CLI = fileURLToPath(new URL('../../bin/vmm-stats', import.meta.url));
/** Markup where a name goes: shown as text, it changes nothing; parsed, it would retitle the page. */
const HOSTILE_NAME = `<img src=x onerror="document.title='pwned'"><b>bold</b>`;
const BUSY = ['tenant.web', 'tenant.db'];
const IDLE = 'tenant.idle';
const TRAFFIC = 'tenant.net';

const browserPath = chromiumPath();
if (browserPath === undefined) console.warn("skipping the overview page's browser tests: no 'chromium' on PATH (Debian package chromium)");
const tapMissing = browserPath === undefined ? undefined : tapUnavailableReason();
if (tapMissing !== undefined) console.warn(`skipping the overview page's traffic test: ${tapMissing}`);

interface Row {
  name: string;
  cpu: number | undefined;
  fromVm: number | undefined;
  /** Points drawn in the row's CPU chart. */
  cpuPoints: number;
}

interface Table {
  round: number;
  rows: Row[];
  sortedBy: string | undefined;
}

/**
 * Reads the table as the page shows it now from its DOM: a value is a cell's data-value, a chart's points
 * are its path's commands. Text, because it runs in the page, whose types the Node project has not.
 */
const READ_TABLE = `(() => {
  const number = (cell) => (cell && cell.dataset.value ? Number(cell.dataset.value) : undefined);
  const rows = [...document.querySelectorAll('#vms tr')].map((row) => ({
    name: row.querySelector('td.name').textContent,
    cpu: number(row.querySelector('td.cpu')),
    fromVm: number(row.querySelector('td.fromVm')),
    cpuPoints: ((row.querySelector('td.cpu path').getAttribute('d') || '').match(/[ML]/g) || []).length,
  }));
  const sorted = document.querySelector('th[aria-sort="ascending"], th[aria-sort="descending"]');
  const sortedBy = sorted ? sorted.dataset.key + ' ' + sorted.getAttribute('aria-sort') : undefined;
  return { round: Number(document.body.dataset.round || 0), rows, sortedBy };
})()`;

function readTable(page: Page): Promise<Table> {
  return page.evaluate<Table>(READ_TABLE);
}

function rowOf(table: Table, name: string): Row {
  const row = table.rows.find((r) => r.name === name);
  if (row === undefined) throw new Error(`no row for ${name} in ${JSON.stringify(table.rows.map((r) => r.name))}`);
  return row;
}

/** The table once `accept` holds for it, read again at each of the page's refreshes. */
function tableWhen(page: Page, accept: (table: Table) => boolean, what: string): Promise<Table> {
  return eventually(async () => {
    const table = await readTable(page);
    return accept(table) ? table : undefined;
  }, 20_000, what);
}

describe.skipIf(browserPath === undefined)('the overview page at /', () => {
  const children = new ChildProcesses();
  const problems: string[] = [];
  let dir: string;
  let daemon: ChildProcess;
  let daemonLog = '';
  let browser: Browser;
  let page: Page;
  let tap: TapVmm | undefined;
  let traffic: NodeJS.Timeout | undefined;

  async function register(name: string, pid: number, taps: string[] = []): Promise<void> {
    const client = await StatsClient.connect(join(dir, 'stat.sock'));
    const reply = await client.request({ kind: 'stats.add', name: name.split('.'), pid, taps });
    client.close();
    expect(reply.kind).toBe('success');
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-page-'));
    const args = ['daemon', '--socket', join(dir, 'stat.sock'), '--interval', '0.4', '--metrics', '127.0.0.1:0', '--state-file', ''];
    daemon = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr!.setEncoding('utf8').on('data', (text: string) => (daemonLog += text));
    const port = await eventually(() => {
      if (daemon.exitCode !== null) throw new Error(`the daemon exited with ${daemon.exitCode}: ${daemonLog}`);
      return /"port":(\d+)[^\n]*"msg":"serving metrics"/.exec(daemonLog)?.[1];
    }, 20_000, 'the daemon to serve metrics');
    for (const name of BUSY) await register(name, (await children.busy()).pid!);
    await register(IDLE, (await children.idle()).pid!);
    await register(HOSTILE_NAME, (await children.idle()).pid!);
    if (tapMissing === undefined) {
      tap = await TapVmm.create(uniqueInterfaceName('vsp'));
      await register(TRAFFIC, tap.process.pid!, [tap.name]);
      traffic = setInterval(() => void tap!.send(20, 500), 100);
    }
    browser = await launchChromium(browserPath!);
    page = await browser.newPage({ viewport: { width: 1280, height: 420 } });
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.goto(`http://127.0.0.1:${port}/`);
  }, 90_000);

  afterAll(async () => {
    clearInterval(traffic);
    await browser?.close();
    await tap?.destroy();
    if (daemon?.exitCode === null) daemon.kill('SIGTERM');
    await children.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows every VM, the busy ones' CPU rising over two refreshes, and their charts growing", async () => {
    const busy = (table: Table) => BUSY.every((name) => (table.rows.find((r) => r.name === name)?.cpu ?? 0) > 0.02);
    const first = await tableWhen(page, busy, 'the busy VMs to show CPU');
    expect(first.rows.map((r) => r.name).sort()).toEqual([...BUSY, IDLE, HOSTILE_NAME, ...(tap ? [TRAFFIC] : [])].sort());
    const second = await tableWhen(page, (t) => t.round >= first.round + 2 && busy(t), 'two more refreshes');
    for (const name of BUSY) {
      expect(rowOf(second, name).cpu).toBeGreaterThan(0.02);
      expect(rowOf(second, name).cpuPoints).toBeGreaterThan(rowOf(first, name).cpuPoints);
      expect(rowOf(second, name).cpu).toBeGreaterThan(rowOf(second, IDLE).cpu ?? 0);
    }
  });

  it('sorts by the column whose header is clicked, either way', async () => {
    const names = (table: Table) => table.rows.map((r) => r.name);
    await page.click('th[data-key="name"] button');
    const ascending = await readTable(page);
    expect(ascending.sortedBy).toBe('name ascending');
    expect(names(ascending)).toEqual([...names(ascending)].sort());
    await page.click('th[data-key="name"] button');
    const descending = await readTable(page);
    expect(descending.sortedBy).toBe('name descending');
    expect(names(descending)).toEqual([...names(ascending)].reverse());
    await page.click('th[data-key="cpu"] button');
    const byCpu = await tableWhen(page, (t) => t.rows.every((r) => r.cpu !== undefined), 'every VM to have a CPU rate');
    expect(byCpu.sortedBy).toBe('cpu descending');
    const cpus = byCpu.rows.map((r) => r.cpu!);
    expect(cpus).toEqual([...cpus].sort((a, b) => b - a));
    expect(BUSY).toContain(byCpu.rows[0]!.name);
  });

  it('shows only the VMs whose name holds what the filter box has', async () => {
    const shown = () => page.locator('#vms tr:not([hidden]) td.name').allTextContents();
    await page.fill('#filter', 'WEB');
    expect(await shown()).toEqual(['tenant.web']);
    await page.fill('#filter', '');
    expect(await shown()).toHaveLength((await readTable(page)).rows.length);
  });

  it("shows a name that holds markup as text, and runs none of it", async () => {
    const table = await readTable(page);
    expect(rowOf(table, HOSTILE_NAME).name).toBe(HOSTILE_NAME);
    expect(await page.title()).toBe('vmm-stats');
    expect(await page.locator('#vms img, #vms b').count()).toBe(0);
  });

  it.skipIf(tapMissing !== undefined)("shows a VM's traffic from its tap", async () => {
    const table = await tableWhen(page, (t) => (t.rows.find((r) => r.name === TRAFFIC)?.fromVm ?? 0) > 1000, 'traffic from the VM');
    expect(rowOf(table, TRAFFIC).fromVm).toBeGreaterThan(1000);
    expect(rowOf(table, BUSY[0]!).fromVm).toBeUndefined(); // no taps: no traffic known
  });

  it('keeps a screenshot of the page, once its charts have a few seconds in them', async () => {
    await tableWhen(page, (t) => BUSY.every((name) => (t.rows.find((r) => r.name === name)?.cpuPoints ?? 0) >= 15), 'fuller charts');
    while ((await readTable(page)).sortedBy !== 'cpu descending') await page.click('th[data-key="cpu"] button'); // as the page opens
    const screenshot = join(tmpdir(), `vmm-stats-overview-${process.pid}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`the overview page's screenshot, kept: ${screenshot}`);
    expect(statSync(screenshot).size).toBeGreaterThan(10_000);
  });

  it('loaded nothing from elsewhere and logged no error (its policy would have blocked the one, and said so)', () => {
    expect(problems).toEqual([]);
  });
});
