import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { StatsClient } from '../client/client.js';
import { CsvLog, csvLines } from '../top/csv.js';
import { parseEndTime } from '../top/end-time.js';
import { DEFAULT_ORDER, FIELD_IDS, FIELDS, parseFields, SORT_COLUMNS, sortKeyOf, sortRows, type FieldId, type SortOrder } from '../top/fields.js';
import { initialState, parseKeys, stateAfterKey, type TopState } from '../top/interaction.js';
import { TopModel } from '../top/model.js';
import { endTimeReached, refreshSchedule } from '../top/refresh.js';
import { renderPlainBlock, renderScreen, type View } from '../top/screen.js';
import { parseCommandLine, parseInteger, parseOption, terminationSignal, UsageError, type Command } from './command.js';
import { socketOption } from './client-commands.js';
import { vmLabels } from '../vm/vm.js';
import { usageText, type OptionTable } from './options.js';

/** The screen is redrawn this often between refreshes too: the clock moves, and silent VMs go away. */
const CLOCK_MS = 1000;
const MAX_DELAY_SECONDS = 86_400;
const MAX_ITERATIONS = 1_000_000_000;
const QUIT_KEYS = ['q', 'Q', '\x03'];

const ENTER_SCREEN = '\x1b[?1049h\x1b[?25l';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';

const topOptions = {
  sort: {
    type: 'string',
    placeholder: 'COLUMN',
    default: DEFAULT_ORDER.column,
    help: `the starting order, by a shown column: ${SORT_COLUMNS.join(', ')}`,
  },
  fields: {
    type: 'string',
    placeholder: 'LIST',
    default: FIELD_IDS.join(','),
    help: 'the columns after the VM name, in this order, separated by commas',
  },
  delay: {
    type: 'string',
    short: 'd',
    placeholder: 'SECONDS',
    defaultText: "each interval's Data",
    help: 'refresh the display every SECONDS, rates averaged over that time, whatever the daemon\'s interval',
  },
  iterations: { type: 'string', short: 'n', placeholder: 'N', help: 'exit 0 after N refreshes' },
  'end-time': {
    type: 'string',
    placeholder: 'TIME',
    help: 'exit 0 at TIME: 2026-12-02T08:00:00Z (ISO 8601; no zone is local time), 08:00[:SS] (the next one), or +SECONDS',
  },
  batch: { type: 'boolean', short: 'b', help: 'print plain blocks of lines, as when standard output is not a terminal, even on one' },
  csv: {
    type: 'string',
    placeholder: 'FILE',
    help: 'also append one line per VM per refresh to FILE, with a header and a timestamp; SIGHUP reopens FILE',
  },
  ...socketOption,
} satisfies OptionTable;

const FIELD_HELP = FIELDS.map((field) => `  ${field.id.padEnd(13)}${field.title.padEnd(12)}${field.description}`).join('\n');
const SORT_KEYS = SORT_COLUMNS.map(sortKeyOf).join(' ');

const usage = usageText(
  `usage: vmm-stats top [NAME] [--fields LIST] [--sort COLUMN] [-d SECONDS] [-n N] [--end-time TIME]
                     [-b] [--csv FILE] [--socket PATH]

A live view of the VMs: subscribes to NAME and every VM below it (no NAME: every VM) and shows one
row per VM, refreshed as each interval's Data arrives (or every --delay SECONDS). The columns after
the VM name, as --fields names them (all of them by default):
${FIELD_HELP}
Rates are over the time between two refreshes; IN is traffic from the VM. '-' is a rate not known
yet (one Data so far, or the process restarted), or a VM without that counter. A VM that sends no
Data for a few intervals (removed, or its process exited) leaves the view.

Keys:
  ${SORT_KEYS}   sort by ${SORT_COLUMNS.join(', ')}
  < >                 sort by the shown column left or right of the sorted one
  r                   reverse the order
  up, down (k, j)     select a VM
  x                   show the selected VM's hypervisor counters and their rates, fastest first,
                      as kvm_stat does (x or Esc: back)
  f                   choose the columns to show: 1-8 show or hide one (f or Esc: back)
  q or Ctrl-C         quit
The sorted column's title and its sort key are in reverse video; the last line says the order.

When standard output is not a terminal, or with --batch, top prints one plain block of rows per
refresh instead. --csv FILE appends to FILE (never truncates it): the header (time, vm, then the
--fields columns) is written when the file is empty, and a file with another header is refused.
After a rotation (mv FILE FILE.1; kill -HUP), SIGHUP makes top open FILE again, a new file with a
header. --iterations and --end-time end top with exit 0, as q does.`,
  topOptions,
);

function parseSort(text: string, fields: readonly FieldId[]): SortOrder {
  const column = SORT_COLUMNS.find((candidate) => candidate === text);
  if (column === undefined) throw new UsageError(`--sort takes one of ${SORT_COLUMNS.join(', ')}, not '${text}'`);
  if (column !== 'name' && !fields.includes(column)) throw new UsageError(`--sort ${text}: that column is not among --fields`);
  return { column, reversed: false };
}

function parseDelay(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (text.trim() === '' || !(seconds >= 0.1 && seconds <= MAX_DELAY_SECONDS)) {
    throw new UsageError(`--delay takes a number of seconds from 0.1 to ${MAX_DELAY_SECONDS}, not '${text}'`);
  }
  return seconds * 1000;
}

interface Settings {
  name: string;
  fields: FieldId[];
  order: SortOrder;
  delayMs: number | undefined;
  iterations: number | undefined;
  endTime: Date | undefined;
  batch: boolean;
  csvPath: string | undefined;
  socket: string;
}

function settingsOf(argv: string[]): Settings {
  const { values, positionals } = parseCommandLine(argv, topOptions, true);
  if (positionals.length > 1) throw new UsageError('give at most one VM name');
  const fields = parseOption('--fields', values.fields, parseFields);
  const endText = values['end-time'];
  return {
    name: positionals[0] ?? '',
    fields,
    order: parseSort(values.sort, fields),
    delayMs: parseDelay(values.delay),
    iterations: values.iterations === undefined ? undefined : parseInteger('--iterations', values.iterations, 1, MAX_ITERATIONS),
    endTime: endText === undefined ? undefined : parseOption('--end-time', endText, (text) => parseEndTime(text, new Date())),
    batch: values.batch ?? false,
    csvPath: values.csv,
    socket: values.socket,
  };
}

type Outcome =
  | { kind: 'quit' }
  | { kind: 'done' }
  | { kind: 'daemon-closed'; error: Error | undefined }
  | { kind: 'failed'; message: string };

/** Where the view goes: a terminal screen, or plain lines. `finished` settles when the user is done. */
interface Display {
  refreshed(): void;
  finished: Promise<Outcome>;
  close(): void;
}

/** SIGINT or SIGTERM, the ordinary ways to stop a program that runs until stopped, are a quit. */
function interrupted(): Promise<Outcome> {
  return terminationSignal().then(() => ({ kind: 'quit' }));
}

/** Output closed by its reader (`vmm-stats top | head`, a terminal hung up) is a normal end, not an error. */
function outputClosed(): Promise<Outcome> {
  return new Promise((resolve) => process.stdout.once('error', () => resolve({ kind: 'quit' })));
}

/** What the screen shows now: the model's rows as of the last refresh, in the state the keys made. */
type ViewOf = (state: TopState) => View;

function plainDisplay(view: ViewOf, state: TopState): Display {
  return {
    refreshed: () => process.stdout.write(renderPlainBlock(view(state)).join('\n') + '\n'),
    finished: Promise.race([interrupted(), outputClosed()]),
    close: () => {},
  };
}

/** Writes each line at its place, erasing the old line first (the screen always has `rows` lines). */
function drawScreen(lines: string[]): void {
  process.stdout.write(lines.map((line, row) => `\x1b[${row + 1};1H\x1b[2K${line}`).join(''));
}

function terminalDisplay(view: ViewOf, initial: TopState): Display {
  const stdout = process.stdout;
  let state = initial;
  const size = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const draw = () => drawScreen(renderScreen(view(state), size()));
  const clock = setInterval(draw, CLOCK_MS);
  const keys = process.stdin.isTTY ? process.stdin : undefined;
  let quit: (outcome: Outcome) => void = () => {};
  const pressed = new Promise<Outcome>((resolve) => (quit = resolve));
  const readKeys = (chunk: string) => {
    for (const key of parseKeys(chunk)) {
      if (key.kind === 'char' && QUIT_KEYS.includes(key.char)) quit({ kind: 'quit' });
      const current = view(state);
      state = stateAfterKey(state, key, sortRows(current.rows, state.order).map((row) => row.name));
    }
    draw();
  };
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    clearInterval(clock);
    stdout.off('resize', draw);
    keys?.off('data', readKeys).setRawMode(false).pause();
    stdout.write(LEAVE_SCREEN);
  };
  stdout.write(ENTER_SCREEN);
  // Should anything throw past us, the shell still gets its terminal back.
  process.once('exit', restore);
  keys?.setRawMode(true).setEncoding('utf8');
  keys?.on('data', readKeys).resume();
  // Node turns SIGWINCH into 'resize' on a terminal's stream.
  stdout.on('resize', draw);
  draw();
  return { refreshed: draw, finished: Promise.race([pressed, interrupted(), outputClosed()]), close: restore };
}

/** The CSV log, reopened on SIGHUP; a failure to write or reopen it ends top (with exit 1). */
function csvLogging(path: string | undefined, fields: readonly FieldId[]): { log(view: View): void; failed: Promise<Outcome>; close(): void } {
  if (path === undefined) return { log: () => {}, failed: new Promise(() => {}), close: () => {} };
  const csv = new CsvLog(path, fields);
  let fail: (outcome: Outcome) => void = () => {};
  const failed = new Promise<Outcome>((resolve) => (fail = resolve));
  const guarded = (action: () => void) => {
    try {
      action();
    } catch (err) {
      fail({ kind: 'failed', message: `--csv: ${(err as Error).message}` });
    }
  };
  const reopen = () => guarded(() => csv.reopen());
  process.on('SIGHUP', reopen);
  return {
    log: (view) => guarded(() => csv.append(csvLines(sortRows(view.rows, { column: 'name', reversed: false }), fields, view.now))),
    failed,
    close: () => {
      process.off('SIGHUP', reopen);
      csv.close();
    },
  };
}

async function subscribe(client: StatsClient, name: string): Promise<string | undefined> {
  const reply = await client.request({ kind: 'stats.subscribe', name: vmLabels(name) });
  return reply.kind === 'fail' ? `the daemon refused the subscription: ${reply.msg ?? ''}` : undefined;
}

function report(outcome: Outcome): number {
  switch (outcome.kind) {
    case 'quit':
    case 'done':
      return 0;
    case 'daemon-closed':
      process.stderr.write(`vmm-stats: the daemon closed the connection${outcome.error ? `: ${outcome.error.message}` : ''}\n`);
      return 1;
    case 'failed':
      process.stderr.write(`vmm-stats top: ${outcome.message}\n`);
      return 1;
  }
}

type CsvLogging = ReturnType<typeof csvLogging>;

/** Shows the model until the user, a signal, --iterations, --end-time, the daemon or the CSV log ends it. */
async function show(settings: Settings, model: TopModel, client: StatsClient, csv: CsvLogging): Promise<Outcome> {
  const cores = availableParallelism();
  const view: ViewOf = (state) => {
    model.expire(performance.now());
    const counters = state.mode === 'counters' && state.selected !== undefined ? model.counters(state.selected) : undefined;
    return { rows: model.rows(), state, now: new Date(), cores, counters };
  };
  const state = initialState(settings.order, settings.fields);
  const display = process.stdout.isTTY && !settings.batch ? terminalDisplay(view, state) : plainDisplay(view, state);
  let refreshes = 0;
  let finish: (outcome: Outcome) => void = () => {};
  const iterationsDone = new Promise<Outcome>((resolve) => (finish = resolve));
  const schedule = refreshSchedule(settings.delayMs, () => model.intervalMs, () => {
    model.refresh();
    display.refreshed();
    csv.log(view(state));
    if (++refreshes === settings.iterations) finish({ kind: 'done' });
  });
  client.onData((frame) => {
    if (frame.message.kind !== 'stats.data') return;
    model.observe(frame.message.name, frame.message.stats, performance.now());
    schedule.dataArrived();
  });
  const end = endTimeReached(settings.endTime);
  const endReached = end.reached.then((): Outcome => ({ kind: 'done' }));
  const daemonClosed = client.closed().then((error): Outcome => ({ kind: 'daemon-closed', error }));
  const outcome = await Promise.race([display.finished, daemonClosed, iterationsDone, endReached, csv.failed]);
  schedule.stop();
  end.cancel();
  display.close();
  return outcome;
}

async function watch(settings: Settings, csv: CsvLogging): Promise<number> {
  const client = await StatsClient.connect(settings.socket);
  try {
    const model = new TopModel();
    // Listening before subscribing: Data may follow the reply in the same read.
    client.onData((frame) => {
      if (frame.message.kind === 'stats.data') model.observe(frame.message.name, frame.message.stats, performance.now());
    });
    const refused = await subscribe(client, settings.name);
    if (refused !== undefined) {
      process.stderr.write(`vmm-stats: ${refused}\n`);
      return 1;
    }
    return report(await show(settings, model, client, csv));
  } finally {
    client.close();
  }
}

export const topCommand: Command = {
  name: 'top',
  summary: 'a live, sortable view of every VM: CPU, memory, tap traffic, VM exits; a CSV log',
  options: topOptions,
  usage,
  async run(argv) {
    const settings = settingsOf(argv);
    // Before connecting: a file that cannot be logged to is the operator's to fix first.
    const csv = csvLogging(settings.csvPath, settings.fields);
    try {
      return await watch(settings, csv);
    } finally {
      csv.close();
    }
  },
};
