// The overview at `/`: one self-contained page (no external assets, so that it works on a host without
// internet; no framework) that asks /api/overview for the rounds it has not seen, every interval, and
// shows each VM's CPU, memory and traffic with charts of the rounds the endpoint keeps.
import { createHash } from 'node:crypto';

const STYLE = String.raw`
:root { color-scheme: light dark; --line: #8884; --cpu: #d9480f; --memory: #1971c2; --from: #2f9e44; --to: #9c36b5; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: baseline; }
h1 { font-size: 1.3rem; margin: 0; }
#status.error { color: #e03131; font-weight: bold; }
/* Fixed: with automatic layout, a refresh at 1000 VMs spends most of its time sizing the columns again. */
table { border-collapse: collapse; margin-top: .75rem; width: 100%; table-layout: fixed; min-width: 68rem; }
th[data-key="cpu"] { width: 9.5rem; }
th[data-key="memory"], th[data-key="fromVm"], th[data-key="toVm"] { width: 11.5rem; }
th[data-key="fromVmPackets"], th[data-key="toVmPackets"] { width: 6.5rem; }
th, td { padding: .2rem .4rem; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td.name { text-align: left; }
td.name { overflow: hidden; text-overflow: ellipsis; font-family: ui-monospace, monospace; }
thead th { position: sticky; top: 0; background: Canvas; }
th button { font: inherit; font-weight: bold; background: none; border: 0; color: inherit; cursor: pointer; padding: 0; text-align: inherit; }
th small { display: block; font-weight: normal; color: GrayText; }
th[aria-sort="ascending"] .label::after { content: " \25B2"; }
th[aria-sort="descending"] .label::after { content: " \25BC"; }
.value { display: inline-block; min-width: 4rem; }
svg.chart { width: 80px; height: 20px; vertical-align: middle; margin-left: .4rem; }
svg.chart path { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
td.cpu path { stroke: var(--cpu); }
td.memory path { stroke: var(--memory); }
td.fromVm path { stroke: var(--from); }
td.toVm path { stroke: var(--to); }
footer { margin-top: 1rem; color: GrayText; font-size: .9em; }
`;

// Every VM name is set with textContent or as an attribute value, never parsed as HTML: a name is
// whatever the VM manager registered, and may hold markup.
const SCRIPT = String.raw`
'use strict';
const SVG_NS = 'http://www.w3.org/2000/svg';
const CHART_WIDTH = 100;
const CHART_HEIGHT = 20;
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function bytes(value, suffix) {
  if (value === null) return '\u2013';
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) { value /= 1024; unit += 1; }
  const digits = unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0;
  return value.toFixed(digits) + ' ' + BYTE_UNITS[unit] + suffix;
}
const cores = (value) => (value === null ? '\u2013' : value.toFixed(2));
const perSecond = (value) => (value === null ? '\u2013' : (value < 10 ? value.toFixed(1) : Math.round(value)) + '/s');

/**
 * The columns after the name, in the table's order. A charted one has a history series of its key, drawn
 * to its peak but never to less than chartFloor, so that an idle VM's noise stays a flat line.
 */
const COLUMNS = [
  { key: 'cpu', format: cores, chartFloor: 0.05 },
  { key: 'memory', format: (v) => bytes(v, ''), chartFloor: 0 },
  { key: 'fromVm', format: (v) => bytes(v, '/s'), chartFloor: 1024 },
  { key: 'toVm', format: (v) => bytes(v, '/s'), chartFloor: 1024 },
  { key: 'fromVmPackets', format: perSecond },
  { key: 'toVmPackets', format: perSecond },
];
const CHARTED = COLUMNS.filter((column) => column.chartFloor !== undefined).map((column) => column.key);

const state = { round: 0, points: 0, intervalSeconds: null, times: [], vms: new Map(), sortKey: 'cpu', descending: true, filter: '' };
const rows = document.getElementById('vms');
const statusLine = document.getElementById('status');

/**
 * The VMs whose rows are on screen or near it: a refresh draws only those (at 1000 VMs, drawing every row
 * and laying them out again took most of a refresh), and a row scrolled to is drawn as it comes into view.
 */
const onScreen = new Set();
const vmOfRow = new WeakMap();
const visibility = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const known = vmOfRow.get(entry.target);
    if (!entry.isIntersecting || state.vms.get(known.name) !== known) {
      onScreen.delete(known);
      continue;
    }
    onScreen.add(known);
    draw(known);
  }
}, { rootMargin: '600px 0px' });

function keepLast(values, length) {
  if (values.length >= length) return values.slice(values.length - length);
  return new Array(length - values.length).fill(null).concat(values);
}

function emptyHistory() {
  const history = {};
  for (const key of CHARTED) history[key] = [];
  return history;
}

function makeRow(name) {
  const row = document.createElement('tr');
  const nameCell = row.insertCell();
  nameCell.className = 'name';
  nameCell.textContent = name;
  nameCell.title = name;
  const cells = {};
  for (const column of COLUMNS) {
    const cell = row.insertCell();
    cell.className = column.key;
    const value = document.createElement('span');
    value.className = 'value';
    cell.append(value);
    let path = null;
    if (column.chartFloor !== undefined) {
      const chart = document.createElementNS(SVG_NS, 'svg');
      chart.setAttribute('class', 'chart');
      chart.setAttribute('viewBox', '0 0 ' + CHART_WIDTH + ' ' + CHART_HEIGHT);
      chart.setAttribute('preserveAspectRatio', 'none');
      path = document.createElementNS(SVG_NS, 'path');
      chart.append(path);
      cell.append(chart);
    }
    cells[column.key] = { cell, value, path };
  }
  return { row, cells };
}

/** Takes in an answer: its rounds appended to those kept, or in their place when it does not follow them. */
function merge(answer) {
  const follows = answer.from === state.round + 1 && answer.points === state.points;
  state.round = answer.round;
  state.points = answer.points;
  state.intervalSeconds = answer.intervalSeconds;
  state.times = keepLast((follows ? state.times : []).concat(answer.times), state.points);
  const seen = new Set();
  for (const vm of answer.vms) {
    seen.add(vm.name);
    let known = state.vms.get(vm.name);
    if (known === undefined) {
      known = Object.assign(makeRow(vm.name), { name: vm.name });
      state.vms.set(vm.name, known);
      vmOfRow.set(known.row, known);
      visibility.observe(known.row);
    }
    if (!follows || known.since !== vm.since) known.history = emptyHistory();
    known.since = vm.since;
    known.latest = vm;
    for (const key of CHARTED) known.history[key] = keepLast(known.history[key].concat(vm.history[key]), state.times.length);
  }
  for (const [name, known] of state.vms) {
    if (seen.has(name)) continue;
    visibility.unobserve(known.row);
    onScreen.delete(known);
    known.row.remove();
    state.vms.delete(name);
  }
}

/** A line through the values, scaled to their peak, newest at the right edge; broken where one is missing. */
function chartPath(values, floor) {
  let peak = floor;
  for (const value of values) if (value !== null && value > peak) peak = value;
  const scale = peak > 0 ? (CHART_HEIGHT - 2) / peak : 0;
  const step = CHART_WIDTH / Math.max(1, state.points - 1);
  const offset = state.points - values.length;
  let path = '';
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null) { drawing = false; return; }
    path += (drawing ? 'L' : 'M') + ((offset + i) * step).toFixed(1) + ' ' + (CHART_HEIGHT - 1 - value * scale).toFixed(1);
    drawing = true;
  });
  return path;
}

function draw(known) {
  for (const column of COLUMNS) {
    const { cell, value, path } = known.cells[column.key];
    const latest = known.latest[column.key];
    value.textContent = column.format(latest);
    cell.dataset.value = latest === null ? '' : String(latest);
    if (path !== null) path.setAttribute('d', chartPath(known.history[column.key], column.chartFloor));
  }
}

/** Missing values last whichever the direction; ties by name. */
function compare(a, b) {
  const key = state.sortKey;
  const direction = state.descending ? -1 : 1;
  if (key !== 'name') {
    const x = a.latest[key];
    const y = b.latest[key];
    if (x !== y) {
      if (x === null) return 1;
      if (y === null) return -1;
      return (x - y) * direction;
    }
  }
  const byName = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  return key === 'name' ? byName * direction : byName;
}

function showSort() {
  for (const header of document.querySelectorAll('th[data-key]')) {
    const sorted = header.dataset.key === state.sortKey;
    header.setAttribute('aria-sort', sorted ? (state.descending ? 'descending' : 'ascending') : 'none');
  }
}

function render() {
  const ordered = [...state.vms.values()].sort(compare);
  const totals = { cpu: 0, memory: 0, fromVm: 0, toVm: 0 };
  for (const known of ordered) {
    known.row.hidden = state.filter !== '' && !known.name.toLowerCase().includes(state.filter);
    for (const key in totals) totals[key] += known.latest[key] ?? 0;
  }
  for (const known of onScreen) draw(known);
  // Moving a thousand rows costs more than all the rest: only when the order changed.
  if (ordered.some((known, i) => rows.rows[i] !== known.row)) {
    const fragment = document.createDocumentFragment();
    for (const known of ordered) fragment.append(known.row);
    rows.append(fragment);
  }
  showSort();
  document.getElementById('empty').hidden = ordered.length > 0;
  const newest = state.times[state.times.length - 1];
  document.getElementById('summary').textContent = ordered.length + (ordered.length === 1 ? ' VM' : ' VMs') +
    ': ' + cores(totals.cpu) + ' cores, ' + bytes(totals.memory, '') + ', ' + bytes(totals.fromVm, '/s') + ' from and ' +
    bytes(totals.toVm, '/s') + ' to the VMs' + (newest ? ' at ' + new Date(newest).toLocaleTimeString() : '');
  document.body.dataset.round = String(state.round);
}

async function refresh() {
  try {
    const response = await fetch('api/overview?since=' + state.round, { cache: 'no-store' });
    if (!response.ok) throw new Error('the endpoint answered ' + response.status + ' ' + (await response.text()).trim().slice(0, 200));
    merge(await response.json());
    render();
    statusLine.textContent = state.intervalSeconds === null ? '' : 'updated every ' + state.intervalSeconds.toFixed(1) + ' s';
    statusLine.className = '';
  } catch (err) {
    statusLine.textContent = 'not updated: ' + err.message + '; trying again';
    statusLine.className = 'error';
  }
  const seconds = Math.min(60, Math.max(0.5, state.intervalSeconds ?? 1));
  setTimeout(refresh, seconds * 1000);
}

for (const header of document.querySelectorAll('th[data-key]')) {
  header.querySelector('button').addEventListener('click', () => {
    const key = header.dataset.key;
    state.descending = key === state.sortKey ? !state.descending : key !== 'name';
    state.sortKey = key;
    render();
  });
}
document.getElementById('filter').addEventListener('input', (event) => {
  state.filter = event.target.value.trim().toLowerCase();
  render();
});
refresh();
`;

function header(key: string, label: string, unit?: string): string {
  const small = unit === undefined ? '' : `<small>${unit}</small>`;
  return `<th data-key="${key}" aria-sort="none"><button type="button"><span class="label">${label}</span>${small}</button></th>`;
}

const HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vmm-stats</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>vmm-stats</h1>
<span id="summary">waiting for the first sample</span>
<span id="status" role="status"></span>
<input id="filter" type="search" placeholder="filter by name" aria-label="show only the VMs whose name holds this">
<a href="metrics">Prometheus metrics</a>
</header>
<table>
<thead><tr>
${header('name', 'VM')}
${header('cpu', 'CPU', 'cores')}
${header('memory', 'Memory', 'peak RSS')}
${header('fromVm', 'From VM', 'bytes/s')}
${header('toVm', 'To VM', 'bytes/s')}
${header('fromVmPackets', 'From VM', 'packets/s')}
${header('toVmPackets', 'To VM', 'packets/s')}
</tr></thead>
<tbody id="vms"></tbody>
</table>
<p id="empty" hidden>No VMs are served yet.</p>
<footer>From VM: what the VM sends (the host receives it on its taps); to VM: what it receives. Each chart shows
the rounds the endpoint keeps (one per interval), scaled to its own peak. Click a column's header to sort by it.</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;

function sourceHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/**
 * The page and the headers it goes with. Its policy lets run only its own script and style (by their
 * hashes) and fetch only from where it came: a VM name that got into the page as markup could do nothing.
 */
export const OVERVIEW_PAGE = {
  html: HTML,
  headers: {
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src ${sourceHash(SCRIPT)}`,
      `style-src ${sourceHash(STYLE)}`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  },
} as const;
