import type { Command } from './command.js';

/** Every subcommand, in the order `vmm-stats --help` lists them. */
export const commands: Command[] = [];
