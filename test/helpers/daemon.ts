import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export interface TempDaemon {
  daemon: StatsDaemon;
  socketPath: string;
  /** Stops the daemon and removes its directory. */
  stop(): Promise<void>;
}

/** A test daemon on a socket in a new temporary directory. */
export async function startTempDaemon(overrides: Partial<DaemonOptions> = {}): Promise<TempDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-test-'));
  const socketPath = join(dir, 'stat.sock');
  const daemon = await startTestDaemon(socketPath, overrides);
  return {
    daemon,
    socketPath,
    async stop(): Promise<void> {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
