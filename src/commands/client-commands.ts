import { StatsClient, type StatsRequest } from '../client/client.js';
import type { Unsent } from '../wire/messages.js';
import { MAX_PID, vmLabels } from '../vm/vm.js';
import { DEFAULT_SOCKET_PATH } from '../daemon/socket-path.js';
import { parseCommandLine, parseInteger, UsageError, type Command } from './command.js';
import { usageText, type OptionTable } from './options.js';

/** How a client command finds the daemon. */
export const socketOption = {
  socket: { type: 'string', placeholder: 'PATH', default: DEFAULT_SOCKET_PATH, help: "the daemon's Unix socket" },
} satisfies OptionTable;

/** Sends one request, prints the daemon's reply, and exits 0 on success and 1 on failure. */
async function requestOnce(socketPath: string, request: Unsent<StatsRequest>): Promise<number> {
  const client = await StatsClient.connect(socketPath);
  try {
    const reply = await client.request(request);
    const text = reply.msg ?? (reply.kind === 'success' ? 'ok' : 'failed');
    if (reply.kind === 'success') process.stdout.write(`${text}\n`);
    else process.stderr.write(`vmm-stats: the daemon refused: ${text}\n`);
    return reply.kind === 'success' ? 0 : 1;
  } finally {
    client.close();
  }
}

function oneName(positionals: string[], what: string): string {
  if (positionals.length !== 1 || positionals[0] === '') throw new UsageError(`give exactly one ${what}`);
  return positionals[0]!;
}

const addOptions = {
  pid: { type: 'string', placeholder: 'PID', help: "the VM's VMM process (required)" },
  tap: { type: 'string', multiple: true, placeholder: 'IF', default: [], help: 'a tap interface of the VM; repeat for several' },
  ...socketOption,
} satisfies OptionTable;

export const addCommand: Command = {
  name: 'add',
  summary: 'register a VM (its VMM process and taps) with the daemon',
  options: addOptions,
  usage: usageText(
    `usage: vmm-stats add NAME --pid PID [--tap IF]... [--socket PATH]

Registers the VM NAME (dotted, e.g. tenant.web) with the running daemon: the process PID is sampled, and
so is each tap (taps that do not exist yet are read once they appear). Adding the same name again with
another pid replaces the old registration.`,
    addOptions,
  ),
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, addOptions, true);
    const name = oneName(positionals, 'VM name');
    if (values.pid === undefined) throw new UsageError('--pid is required');
    const pid = parseInteger('--pid', values.pid, 1, MAX_PID);
    return requestOnce(values.socket, { kind: 'stats.add', name: vmLabels(name), pid, taps: values.tap });
  },
};

export const removeCommand: Command = {
  name: 'remove',
  summary: 'unregister a VM',
  options: socketOption,
  usage: usageText(
    `usage: vmm-stats remove NAME [--socket PATH]

Unregisters the VM NAME: the daemon stops sampling it and its subscribers get no more Data for it.`,
    socketOption,
  ),
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, socketOption, true);
    return requestOnce(values.socket, { kind: 'stats.remove', name: vmLabels(oneName(positionals, 'VM name')) });
  },
};
