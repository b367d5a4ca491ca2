import { createLogger } from '../log.js';
import { StatsDaemon } from '../daemon/daemon.js';
import { DEFAULT_SOCKET_PATH } from '../daemon/socket-path.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../wire/index.js';
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, parseListenAddress, startMetricsServer } from '../metrics/server.js';
import {
  LOG_LEVELS,
  parseCommandLine,
  parseInteger,
  parseLogLevel,
  parseOption,
  terminationSignal,
  UsageError,
  type Command,
} from './command.js';

const DEFAULT_INTERVAL_SECONDS = 10;
const DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024;

const usage = `usage: vmm-stats daemon [options]

Serves the albatross Stats channel (wire version 2) on a Unix socket: a VM manager registers VMs with
Add/Remove, subscribers send Subscribe and receive a Data frame per VM every interval.

options:
  --socket PATH          Unix socket to listen on (default ${DEFAULT_SOCKET_PATH}; its directory is created)
  --interval SECONDS     sampling interval, fractions allowed (default ${DEFAULT_INTERVAL_SECONDS})
  --socket-mode OCTAL    permissions of the socket file (default 0660)
  --socket-group GROUP   group of the socket file, by name or gid (default: the daemon's own)
  --max-frame BYTES      largest request frame accepted (default ${DEFAULT_MAX_FRAME_SIZE})
  --max-queue BYTES      Data bytes queued for a subscriber that does not read, before the oldest are
                         dropped (default ${DEFAULT_MAX_QUEUE_BYTES})
  --metrics HOST:PORT    also serve Prometheus metrics of every VM at http://HOST:PORT/metrics
                         (npm start uses ${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}; off when not given)
  --debugfs DIR          where KVM publishes per-VM statistics in debugfs (default /sys/kernel/debug/kvm),
                         read for a VMM that keeps no KVM statistics fd (those come first)
  --log-level LEVEL      ${LOG_LEVELS.join(', ')} (default info)

FreeBSD: a VM's hypervisor counters are /dev/vmm/solo5-PID, else the device named as the VM's last label, else
as its full name, and are read with one ioctl per vCPU per tick. FreeBSD 15's vmm(4) freezes the vCPU for
each read, forcing a running guest out to the host and back: every tick costs a sampled VM one such exit per
vCPU (at the default interval, 0.1 a second per vCPU; at --interval 0.01, 100). FreeBSD 13 and 14 read the
counters without stopping the vCPU.

SIGTERM or SIGINT: stops accepting, sends what is queued, removes the socket and exits 0.`;

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
  usage,
  async run(argv) {
    const { values } = parseCommandLine(argv, {
      socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
      interval: { type: 'string', default: String(DEFAULT_INTERVAL_SECONDS) },
      'socket-mode': { type: 'string', default: '0660' },
      'socket-group': { type: 'string' },
      'max-frame': { type: 'string', default: String(DEFAULT_MAX_FRAME_SIZE) },
      'max-queue': { type: 'string', default: String(DEFAULT_MAX_QUEUE_BYTES) },
      debugfs: { type: 'string' },
      metrics: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    });
    const logger = createLogger(parseLogLevel(values['log-level']));
    const metricsAddress = values.metrics === undefined ? undefined : parseOption('--metrics', values.metrics, parseListenAddress);
    const daemon = await StatsDaemon.start({
      socketPath: values.socket,
      socketMode: parseMode(values['socket-mode']),
      socketGroup: values['socket-group'],
      intervalMs: parseInterval(values.interval),
      maxFrameSize: parseInteger('--max-frame', values['max-frame'], 64, 0x7fffffff),
      maxQueuedBytes: parseInteger('--max-queue', values['max-queue'], 4096, 2 ** 31),
      debugfsRoot: values.debugfs,
      sampleAll: metricsAddress !== undefined,
      logger,
    });
    const metrics = metricsAddress && (await startOrStop(daemon, () =>
      startMetricsServer({ ...metricsAddress, source: daemon.metricsSource, logger })));
    const signal = await terminationSignal();
    logger.info({ signal }, 'shutting down');
    await Promise.all([daemon.stop(), metrics && metrics.close()]);
    return 0;
  },
};
