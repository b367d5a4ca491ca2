// Undoing the harness's setup, in reverse order, whether the run ends, fails or is interrupted.

type Step = { what: string; undo: () => void | Promise<void> };

export class Cleanup {
  readonly #steps: Step[] = [];
  readonly #bench: string;
  #running: Promise<void> | undefined;

  /** `bench` names the harness in what it writes. */
  constructor(bench: string) {
    this.#bench = bench;
  }

  /** Registers what undoes a step just taken; steps are undone last first. */
  defer(what: string, undo: () => void | Promise<void>): void {
    this.#steps.push({ what, undo });
  }

  /** Undoes every step once, even when some fail; a second call waits for the first. */
  run(): Promise<void> {
    this.#running ??= this.#undoAll();
    return this.#running;
  }

  /**
   * On SIGINT or SIGTERM, and on an error nothing caught: clean up, then exit (with the signal's
   * conventional status, or 1).
   */
  installHandlers(log: (line: string) => void): void {
    const exitAfterCleanup = (why: string, status: number) => {
      log(`${why}: cleaning up`);
      void this.run().finally(() => process.exit(status));
    };
    process.once('SIGINT', () => exitAfterCleanup('SIGINT', 130));
    process.once('SIGTERM', () => exitAfterCleanup('SIGTERM', 143));
    const crash = (err: unknown) => exitAfterCleanup(`unexpected error: ${(err as Error)?.stack ?? String(err)}`, 1);
    process.once('uncaughtException', crash);
    process.once('unhandledRejection', crash);
  }

  async #undoAll(): Promise<void> {
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        process.stderr.write(`${this.#bench}: cleanup: ${step.what} failed: ${(err as Error).message}\n`);
      }
    }
  }
}

/**
 * Runs `body` with a Cleanup that undoes its steps when it ends, fails or is interrupted; resolves with the
 * exit status (0, or 1 after writing the error).
 */
export async function withCleanup(bench: string, log: (line: string) => void, body: (cleanup: Cleanup) => Promise<void>): Promise<number> {
  const cleanup = new Cleanup(bench);
  cleanup.installHandlers(log);
  try {
    await body(cleanup);
    return 0;
  } catch (err) {
    process.stderr.write(`${bench}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    log('cleaning up');
    await cleanup.run();
  }
}
