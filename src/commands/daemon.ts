import { createLogger } from '../log.js';
import { StatsDaemon } from '../daemon/daemon.js';
import { DEFAULT_SOCKET_PATH } from '../daemon/socket-path.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../wire/index.js';
import { parseCommandLine, parseInteger, UsageError, type Command } from './command.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

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
  --debugfs DIR          where KVM publishes per-VM statistics (default /sys/kernel/debug/kvm)
  --log-level LEVEL      ${LOG_LEVELS.join(', ')} (default info)

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

function parseLogLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new UsageError(`--log-level takes one of ${LOG_LEVELS.join(', ')}, not '${text}'`);
  }
  return text as LogLevel;
}

/** Resolves on the first SIGTERM or SIGINT. */
function terminationSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
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
      'log-level': { type: 'string', default: 'info' },
    });
    const logger = createLogger(parseLogLevel(values['log-level']));
    const daemon = await StatsDaemon.start({
      socketPath: values.socket,
      socketMode: parseMode(values['socket-mode']),
      socketGroup: values['socket-group'],
      intervalMs: parseInterval(values.interval),
      maxFrameSize: parseInteger('--max-frame', values['max-frame'], 64, 0x7fffffff),
      maxQueuedBytes: parseInteger('--max-queue', values['max-queue'], 4096, 2 ** 31),
      debugfsRoot: values.debugfs,
      logger,
    });
    const signal = await terminationSignal();
    logger.info({ signal }, 'shutting down');
    await daemon.stop();
    return 0;
  },
};
