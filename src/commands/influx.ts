import { readFileSync } from 'node:fs';
import { createLogger } from '../log/logger.js';
import { DEFAULT_SOCKET_PATH } from '../daemon/socket-path.js';
import { InfluxForwarder } from '../influx/forwarder.js';
import { parseInfluxUrl, URL_FORMS, type InfluxTarget } from '../influx/target.js';
import { logLevelOption, parseCommandLine, parseInteger, parseLogLevel, parseOption, terminationSignal, UsageError, type Command } from './command.js';
import { usageText, type OptionTable } from './options.js';

/** Points held while InfluxDB is away: at 10 s and three lines a VM, 100 VMs for about half an hour, in some 20 MB. */
const DEFAULT_MAX_BUFFERED = 50_000;
const MAX_BUFFERED_LIMIT = 10_000_000;
/** Where the token comes from when no --token-file is given: the variable the influx CLI reads. */
const TOKEN_VARIABLE = 'INFLUX_TOKEN';

const influxOptions = {
  connect: { type: 'string', placeholder: 'SOCKET', default: DEFAULT_SOCKET_PATH, help: "the daemon's Unix socket" },
  influx: { type: 'string', placeholder: 'URL', help: `where to write (required): ${URL_FORMS}` },
  'token-file': {
    type: 'string',
    placeholder: 'FILE',
    defaultText: `the ${TOKEN_VARIABLE} variable`,
    help: 'a file holding the token sent to InfluxDB (required by /api/v2/write), so that it shows in no process listing',
  },
  'max-buffered': {
    type: 'string',
    placeholder: 'POINTS',
    default: String(DEFAULT_MAX_BUFFERED),
    help: 'points held while InfluxDB cannot take them, before the oldest are dropped (and counted)',
  },
  ...logLevelOption,
} satisfies OptionTable;

/** The token from the file, or from the environment; undefined when neither gives one. */
function readToken(file: string | undefined): string | undefined {
  if (file === undefined) return process.env[TOKEN_VARIABLE] || undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--token-file ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token === '' || /[\r\n]/.test(token)) throw new Error(`--token-file ${file} must hold the token alone, on one line`);
  // What an HTTP header can carry: anything else would fail every request, not the start.
  if (/[^\x20-\x7e]/.test(token)) throw new Error(`--token-file ${file}: the token holds a character other than printable ASCII`);
  return token;
}

function checkToken(target: InfluxTarget, token: string | undefined, fromFile: boolean): void {
  if (target.kind === 'tcp' && fromFile) throw new UsageError('--token-file is for the HTTP API: a tcp:// listener takes no token');
  if (target.kind === 'http' && target.api === '2.x' && token === undefined) {
    throw new UsageError(`InfluxDB 2.x's /api/v2/write needs a token: --token-file FILE, or $${TOKEN_VARIABLE}`);
  }
}

export const influxCommand: Command = {
  name: 'influx',
  summary: "write a running stats daemon's VMs to InfluxDB, as albatross-influx does",
  options: influxOptions,
  usage: usageText(
    `usage: vmm-stats influx --influx URL [--connect SOCKET] [--token-file FILE] [--max-buffered POINTS]

albatross-influx's job: subscribes to every VM of a running stats daemon (vmm-stats, or any daemon that
speaks the albatross Stats channel) and writes each Data frame as InfluxDB line protocol, with
albatross-influx's measurements, tags and fields (resource_usage, vmm and interface; tags vm and ifname),
each point stamped with the time its frame arrived. URL forms:
  tcp://HOST:PORT                                  line protocol over TCP (telegraf's socket_listener)
  http(s)://HOST:PORT/write?db=DB                  InfluxDB 1.x's HTTP API (rp= may be given too)
  http(s)://HOST:PORT/api/v2/write?org=O&bucket=B  InfluxDB 2.x's, with a token
Reconnects with backoff when the daemon or InfluxDB restarts; points InfluxDB cannot take are held, up
to --max-buffered, and sent when it is back.`,
    influxOptions,
  ),
  async run(argv) {
    const { values } = parseCommandLine(argv, influxOptions);
    if (values.influx === undefined) throw new UsageError(`--influx is required: ${URL_FORMS}`);
    const target = parseOption('--influx', values.influx, parseInfluxUrl);
    const maxBufferedPoints = parseInteger('--max-buffered', values['max-buffered'], 1, MAX_BUFFERED_LIMIT);
    const logger = createLogger(parseLogLevel(values['log-level']));
    const token = readToken(values['token-file']);
    checkToken(target, token, values['token-file'] !== undefined);
    const stopped = terminationSignal();
    const forwarder = new InfluxForwarder({ socketPath: values.connect, target, token, logger, maxBufferedPoints });
    forwarder.start();
    logger.info({ socket: values.connect, influx: values.influx, maxBufferedPoints }, 'writing every VM of the stats daemon to InfluxDB');
    const signal = await stopped;
    logger.info({ signal }, 'shutting down');
    await forwarder.stop();
    return 0;
  },
};
