import { pino, destination, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The process's logger: JSON lines on stderr, so that stdout stays for a command's own output. */
export function createLogger(level: LevelWithSilent = 'info', name = 'vmm-stats'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, destination({ dest: 2, sync: true }));
}
