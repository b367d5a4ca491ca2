import { pino } from 'pino';
import { StatsDaemon, type DaemonOptions } from '../../src/daemon/daemon.js';

/** A daemon in this process for tests: silent, 1 MiB frame and queue bounds, unless `overrides` say otherwise. */
export function startTestDaemon(socketPath: string, overrides: Partial<DaemonOptions> = {}): Promise<StatsDaemon> {
  return StatsDaemon.start({
    socketPath,
    socketMode: 0o600,
    intervalMs: 100,
    maxFrameSize: 1 << 20,
    maxQueuedBytes: 1 << 20,
    maxConnections: 1024,
    maxVms: 65536,
    idleTimeoutMs: 60_000,
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
}
