import { StatsClient } from '../client/client.js';
import type { Frame, IfData, Stats } from '../wire/messages.js';
import { parseCommandLine, terminationSignal, UsageError, type Command } from './command.js';
import { socketOption } from './client-commands.js';
import { vmLabels, vmNameOf } from '../vm/vm.js';
import { usageText, type OptionTable } from './options.js';
import { frameJsonLine } from './wire.js';

const COLUMNS: [title: string, width: number][] = [
  ['TIME', 8],
  ['VM', 20],
  ['USER s', 10],
  ['SYS s', 10],
  ['MAXRSS MiB', 10],
  ['TAP', 10],
  ['IN pkts', 10],
  ['IN bytes', 12],
  ['OUT pkts', 10],
  ['OUT bytes', 12],
];

function row(cells: string[]): string {
  return cells.map((cell, i) => (i < 2 || i === 5 ? cell.padEnd(COLUMNS[i]![1]) : cell.padStart(COLUMNS[i]![1]))).join(' ');
}

function seconds(tv: Stats['rusage']['utime']): string {
  return `${tv.sec}.${String(tv.usec).padStart(6, '0').slice(0, 2)}`;
}

/** The rows of one Data frame: one per tap (input = from the VM), or one with no tap columns. */
export function tableRows(frame: Frame, now: Date): string[] {
  if (frame.message.kind !== 'stats.data') return [];
  const { name, stats } = frame.message;
  const { rusage } = stats;
  const vmCells = [
    now.toTimeString().slice(0, 8),
    vmNameOf(name),
    seconds(rusage.utime),
    seconds(rusage.stime),
    (Number(rusage.maxrss) / 1024).toFixed(1),
  ];
  const tapCells = (tap: IfData) => [
    tap.name,
    String(tap.input_packets),
    String(tap.input_bytes),
    String(tap.output_packets),
    String(tap.output_bytes),
  ];
  if (stats.ifdata.length === 0) return [row([...vmCells, '-', '', '', '', ''])];
  return stats.ifdata.map((tap) => row([...vmCells, ...tapCells(tap)]));
}

const watchOptions = {
  json: { type: 'boolean', default: false, help: 'JSON lines instead of the table' },
  ...socketOption,
} satisfies OptionTable;

export const watchCommand: Command = {
  name: 'watch',
  summary: 'subscribe to VMs and print their statistics as they arrive',
  options: watchOptions,
  usage: usageText(
    `usage: vmm-stats watch [NAME] [--json] [--socket PATH]

Subscribes to NAME and every VM below it (tenant matches tenant.web and tenant.db; no NAME: every VM)
and prints each Data frame as it arrives: a table (one row per tap; IN is traffic from the VM), or with
--json one JSON line per frame, exactly as 'vmm-stats wire decode' prints it. Runs until interrupted.`,
    watchOptions,
  ),
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, watchOptions, true);
    if (positionals.length > 1) throw new UsageError('give at most one VM name');
    const client = await StatsClient.connect(values.socket);
    let headerShown = false;
    client.onData((frame) => {
      if (values.json) {
        process.stdout.write(frameJsonLine(frame) + '\n');
        return;
      }
      if (!headerShown) process.stdout.write(row(COLUMNS.map(([title]) => title)) + '\n');
      headerShown = true;
      for (const line of tableRows(frame, new Date())) process.stdout.write(line + '\n');
    });
    const reply = await client.request({ kind: 'stats.subscribe', name: vmLabels(positionals[0] ?? '') });
    if (reply.kind === 'fail') {
      process.stderr.write(`vmm-stats: the daemon refused the subscription: ${reply.msg ?? ''}\n`);
      client.close();
      return 1;
    }
    const interrupted = terminationSignal().then(() => 'interrupted' as const);
    const outcome = await Promise.race([interrupted, client.closed()]);
    if (outcome === 'interrupted') {
      client.close();
      return 0;
    }
    process.stderr.write(`vmm-stats: the daemon closed the connection${outcome ? `: ${outcome.message}` : ''}\n`);
    return 1;
  },
};
