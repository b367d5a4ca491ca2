// Undoing the harness's setup, in reverse order, whether the run ends, fails or is interrupted.

type Step = { what: string; undo: () => void | Promise<void> };

export class Cleanup {
  readonly #steps: Step[] = [];
  #running: Promise<void> | undefined;

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
        process.stderr.write(`bench:scale: cleanup: ${step.what} failed: ${(err as Error).message}\n`);
      }
    }
  }
}
