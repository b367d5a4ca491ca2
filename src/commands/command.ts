import { parseArgs } from 'node:util';
import type { OptionTable } from './options.js';

/** One subcommand of the `vmm-stats` CLI. */
export interface Command {
  name: string;
  summary: string;
  /** Every flag the command takes; its usage lists each of them. */
  options: OptionTable;
  /** Full help text, printed by `--help`. */
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** An operator's mistake on the command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** parseArgs in strict mode with a command's option table, its errors turned into UsageError. */
export function parseCommandLine<O extends OptionTable>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A whole number within [min, max], or a UsageError naming the flag. */
export function parseInteger(flag: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} takes a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  }
  return value;
}

/** Runs a value parser of a flag's, turning its error into a UsageError that names the flag. */
export function parseOption<T>(flag: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logLevelOption = {
  'log-level': { type: 'string', placeholder: 'LEVEL', default: 'info', help: LOG_LEVELS.join(', ') },
} satisfies OptionTable;

export function parseLogLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new UsageError(`--log-level takes one of ${LOG_LEVELS.join(', ')}, not '${text}'`);
  }
  return text as LogLevel;
}

/** Resolves on the first SIGTERM or SIGINT: how a long-running command is asked to stop. */
export function terminationSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
