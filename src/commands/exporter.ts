import { createLogger } from '../log/logger.js';
import { Exporter } from '../exporter/exporter.js';
import { DEFAULT_SOCKET_PATH } from '../daemon/socket-path.js';
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, parseListenAddress, startMetricsServer } from '../metrics/server.js';
import { logLevelOption, parseCommandLine, parseLogLevel, parseOption, terminationSignal, UsageError, type Command } from './command.js';
import { usageText, type OptionTable } from './options.js';
import { parseWebOptions, webOptions } from './web-options.js';

const DEFAULT_STALE_SECONDS = 35;

const exporterOptions = {
  connect: { type: 'string', placeholder: 'SOCKET', default: DEFAULT_SOCKET_PATH, help: "the daemon's Unix socket" },
  listen: {
    type: 'string',
    placeholder: 'HOST:PORT',
    default: `${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}`,
    help: 'where to serve /metrics',
  },
  'stale-after': {
    type: 'string',
    placeholder: 'SECONDS',
    default: String(DEFAULT_STALE_SECONDS),
    help: 'how long a VM seen only once keeps its series without new Data',
  },
  ...webOptions,
  ...logLevelOption,
} satisfies OptionTable;

export const exporterCommand: Command = {
  name: 'exporter',
  summary: "serve a running stats daemon's VMs as Prometheus metrics",
  options: exporterOptions,
  usage: usageText(
    `usage: vmm-stats exporter [--connect SOCKET] [--listen HOST:PORT] [--web-config FILE]

The standalone Prometheus adapter: subscribes to every VM of a running stats daemon (vmm-stats, or any
daemon that speaks the albatross Stats channel), keeps each VM's newest Data, and serves /metrics.
Reconnects with backoff when the daemon restarts; a VM's series go away once it has sent nothing for
three of its intervals.`,
    exporterOptions,
  ),
  async run(argv) {
    const { values } = parseCommandLine(argv, exporterOptions);
    const listen = parseOption('--listen', values.listen, parseListenAddress);
    const staleSeconds = Number(values['stale-after']);
    if (!(staleSeconds > 0)) throw new UsageError(`--stale-after takes a positive number of seconds, not '${values['stale-after']}'`);
    const logger = createLogger(parseLogLevel(values['log-level']));
    const web = parseWebOptions(values, logger);
    const stopped = terminationSignal();
    const exporter = new Exporter({ socketPath: values.connect, logger, staleAfterMs: staleSeconds * 1000 });
    const server = await startMetricsServer({ ...listen, source: exporter.metricsSource, logger, web });
    exporter.start();
    const signal = await stopped;
    logger.info({ signal }, 'shutting down');
    await Promise.all([exporter.stop(), server.close()]);
    return 0;
  },
};
