import type { Command } from './command.js';
import { addCommand, removeCommand } from './client-commands.js';
import { daemonCommand } from './daemon.js';
import { watchCommand } from './watch.js';
import { topCommand } from './top.js';
import { wireCommand } from './wire.js';
import { exporterCommand } from './exporter.js';
import { influxCommand } from './influx.js';
import { sampleCommand } from './sample.js';

/** Every subcommand, in the order `vmm-stats --help` lists them. */
export const commands: Command[] = [daemonCommand, addCommand, removeCommand, watchCommand, topCommand, exporterCommand, influxCommand, sampleCommand, wireCommand];
