// The flags of the metrics endpoint on a network, shared by the commands that serve it (daemon, exporter).
import type { Logger } from '../log/logger.js';
import { WebConfigFile } from '../metrics/web-config-file.js';
import { DEFAULT_MAX_REQUESTS, type WebOptions } from '../metrics/web-server.js';
import { parseInteger } from './command.js';
import type { OptionTable } from './options.js';

export const webOptions = {
  'web-config': {
    type: 'string',
    placeholder: 'FILE',
    help:
      "TLS, basic auth and response headers of the metrics endpoint, in the exporter-toolkit's web config format " +
      "(node_exporter's); read again when it or a file it names changes",
  },
  'web-max-requests': {
    type: 'string',
    placeholder: 'N',
    default: String(DEFAULT_MAX_REQUESTS),
    help: 'requests the metrics endpoint answers at once; past it one gets 503; 0 for no limit',
  },
} satisfies OptionTable;

/** The endpoint's web options from the flags; an unusable web config file throws, naming what is wrong. */
export function parseWebOptions(values: { 'web-config'?: string; 'web-max-requests': string }, logger: Logger): WebOptions {
  const maxRequests = parseInteger('--web-max-requests', values['web-max-requests'], 0, 1_000_000);
  const file = values['web-config'];
  return { configFile: file === undefined ? undefined : WebConfigFile.open(file, logger), maxRequests };
}
