import { createLogger } from '../log/logger.js';
import { StatsDaemon } from '../daemon/daemon.js';
import { DEFAULT_SOCKET_PATH } from '../daemon/socket-path.js';
import { DEFAULT_STATE_FILE } from '../daemon/state-file.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../wire/index.js';
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, parseListenAddress, startMetricsServer } from '../metrics/server.js';
import { DEFAULT_DEBUGFS_ROOT } from '../sampler/sampler.js';
import {
  logLevelOption,
  parseCommandLine,
  parseInteger,
  parseLogLevel,
  parseOption,
  terminationSignal,
  UsageError,
  type Command,
} from './command.js';
import { usageText, type OptionTable } from './options.js';
import { parseWebOptions, webOptions } from './web-options.js';

const DEFAULT_INTERVAL_SECONDS = 10;
const DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_VMS = 65536;
const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;

const daemonOptions = {
  socket: {
    type: 'string',
    placeholder: 'PATH',
    default: DEFAULT_SOCKET_PATH,
    help: 'Unix socket to listen on; its directory is created',
  },
  interval: {
    type: 'string',
    placeholder: 'SECONDS',
    default: String(DEFAULT_INTERVAL_SECONDS),
    help: 'sampling interval, fractions allowed',
  },
  'socket-mode': { type: 'string', placeholder: 'OCTAL', default: '0660', help: 'permissions of the socket file' },
  'socket-group': {
    type: 'string',
    placeholder: 'GROUP',
    defaultText: "the daemon's own group",
    help: 'group of the socket file, by name or gid',
  },
  'max-frame': {
    type: 'string',
    placeholder: 'BYTES',
    default: String(DEFAULT_MAX_FRAME_SIZE),
    help: 'largest request frame accepted',
  },
  'max-queue': {
    type: 'string',
    placeholder: 'BYTES',
    default: String(DEFAULT_MAX_QUEUE_BYTES),
    help: 'Data bytes queued for a subscriber that does not read, before the oldest are dropped',
  },
  'manager-user': {
    type: 'string',
    multiple: true,
    placeholder: 'USER',
    default: [],
    help: 'a user (name or uid) who may Add and Remove; repeat for several. With this or --manager-group, every other peer but root may Subscribe only',
  },
  'manager-group': {
    type: 'string',
    multiple: true,
    placeholder: 'GROUP',
    default: [],
    help: 'a group (name or gid) whose members by their primary group may Add and Remove; repeat for several',
  },
  'state-file': {
    type: 'string',
    placeholder: 'PATH',
    default: DEFAULT_STATE_FILE,
    help: 'where the registrations are kept, so that a restart forgets no VM; an empty PATH keeps none',
  },
  'max-connections': {
    type: 'string',
    placeholder: 'N',
    default: String(DEFAULT_MAX_CONNECTIONS),
    help: 'connections open at once; past it a new one gets a failure frame and is closed',
  },
  'max-vms': {
    type: 'string',
    placeholder: 'N',
    default: String(DEFAULT_MAX_VMS),
    help: 'VMs registered at once; past it an Add of a new name fails',
  },
  'idle-timeout': {
    type: 'string',
    placeholder: 'SECONDS',
    default: String(DEFAULT_IDLE_TIMEOUT_SECONDS),
    help: 'how long a request frame may take to arrive once begun; a peer stalled in the middle of one is closed, unless it subscribes',
  },
  metrics: {
    type: 'string',
    placeholder: 'HOST:PORT',
    help:
      'also serve Prometheus metrics of every VM at http://HOST:PORT/metrics ' +
      `(npm start uses ${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}; off when not given)`,
  },
  debugfs: {
    type: 'string',
    placeholder: 'DIR',
    defaultText: DEFAULT_DEBUGFS_ROOT,
    help: 'where KVM publishes per-VM statistics in debugfs, read only for a VMM that keeps no KVM statistics fd',
  },
  ...webOptions,
  ...logLevelOption,
} satisfies OptionTable;

const usage = usageText(
  `usage: vmm-stats daemon [options]

Serves the albatross Stats channel (wire version 2) on a Unix socket: a VM manager registers VMs with
Add/Remove, subscribers send Subscribe and receive a Data frame per VM every interval.`,
  daemonOptions,
  `FreeBSD: a VM's hypervisor counters are /dev/vmm/solo5-PID, else the device named as the VM's last label, else
as its full name, and are read with one ioctl per vCPU per tick. FreeBSD 15's vmm(4) freezes the vCPU for
each read, forcing a running guest out to the host and back: every tick costs a sampled VM one such exit per
vCPU (at the default interval, 0.1 a second per vCPU; at --interval 0.01, 100). FreeBSD 13 and 14 read the
counters without stopping the vCPU.

SIGTERM or SIGINT: stops accepting, sends what is queued, removes the socket and exits 0.`,
);

function parseInterval(text: string | undefined): number {
  const seconds = Number(text);
  if (text === undefined || !Number.isFinite(seconds) || seconds < 0.01 || seconds > 86_400) {
    throw new UsageError(`--interval takes seconds from 0.01 to 86400, not ${JSON.stringify(text)}`);
  }
  return Math.round(seconds * 1000);
}

function parseMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new UsageError(`--socket-mode takes an octal mode such as 0660, not '${text}'`);
  return parseInt(text, 8);
}

/** Starts what the daemon serves beside its socket; if that fails, stops the daemon so no socket is left. */
async function startOrStop<T>(daemon: StatsDaemon, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'collect VM statistics and serve them on the Stats socket',
  options: daemonOptions,
  usage,
  async run(argv) {
    const { values } = parseCommandLine(argv, daemonOptions);
    const logger = createLogger(parseLogLevel(values['log-level']));
    const metricsAddress = values.metrics === undefined ? undefined : parseOption('--metrics', values.metrics, parseListenAddress);
    if (values['web-config'] !== undefined && metricsAddress === undefined) throw new UsageError('--web-config applies to --metrics, which is not given');
    // Read before the socket exists, so that a web config that does not load leaves nothing behind.
    const web = parseWebOptions(values, logger);
    // Listened for before the socket exists: a SIGTERM that comes while the daemon starts stops it once started.
    const stopped = terminationSignal();
    const daemon = await StatsDaemon.start({
      socketPath: values.socket,
      socketMode: parseMode(values['socket-mode']),
      socketGroup: values['socket-group'],
      intervalMs: parseInterval(values.interval),
      maxFrameSize: parseInteger('--max-frame', values['max-frame'], 64, 2 ** 31 - 1),
      maxQueuedBytes: parseInteger('--max-queue', values['max-queue'], 4096, 2 ** 31),
      maxConnections: parseInteger('--max-connections', values['max-connections'], 1, 1_000_000),
      maxVms: parseInteger('--max-vms', values['max-vms'], 1, 10_000_000),
      idleTimeoutMs: parseInteger('--idle-timeout', values['idle-timeout'], 1, 86_400) * 1000,
      stateFile: values['state-file'],
      managerUsers: values['manager-user'],
      managerGroups: values['manager-group'],
      debugfsRoot: values.debugfs,
      logger,
    });
    const metrics = metricsAddress && (await startOrStop(daemon, () =>
      startMetricsServer({ ...metricsAddress, source: daemon.serveMetrics(), logger, web })));
    const signal = await stopped;
    logger.info({ signal }, 'shutting down');
    await Promise.all([daemon.stop(), metrics && metrics.close()]);
    return 0;
  },
};
