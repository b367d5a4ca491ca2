// bench:vms's command line.
import { parseArgs } from 'node:util';
import { positiveInteger } from '../scale/options.js';

export interface Options {
  guests: number;
  /** The measured time, split into rounds of two equal phases. */
  seconds: number;
  rounds: number;
  accelerator: 'kvm' | 'tcg';
  json: boolean;
}

export const usage = `usage: npm run bench:vms -- [--guests N] [--seconds S] [--rounds R] [--kvm] [--json]

As root: starts libvirtd (with state of its own, in a network and mount namespace of the bench's) and N
transient domains booting the test guest (direct kernel boot, one ethernet interface each on a tap of
ours); starts prometheus-libvirt-exporter, and a vmm-stats daemon (interval 1 s) with the same QEMU pids
and taps registered; then R rounds of two phases of S/(2R) seconds: our /metrics scraped once a second,
then the exporter's. Reports CPU per scrape (ours: the daemon, whose ticks feed its scrapes; theirs: the
exporter plus libvirtd, whose RPCs do the reading), latencies, series and bytes, and whether the two agree
on every guest's CPU time and tap counters. Cleans up (domains, libvirtd, taps) even when interrupted.

  --guests N    domains (default 8)
  --seconds S   measured seconds (default 120)
  --rounds R    rounds of the two phases (default 4); a phase lasts at least 5 s
  --kvm         domains of type kvm (default: qemu, that is TCG, which boots wherever QEMU runs)
  --json        one JSON line on stdout instead of the tables`;

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      guests: { type: 'string', default: '8' },
      seconds: { type: 'string', default: '120' },
      rounds: { type: 'string', default: '4' },
      kvm: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  // Each guest has a /24 of 10.78.0.0/16 and 256 MiB.
  const guests = positiveInteger('--guests', values.guests, 1);
  if (guests > 250) throw new Error('--guests: at most 250');
  const seconds = positiveInteger('--seconds', values.seconds, 10);
  const rounds = positiveInteger('--rounds', values.rounds, 1);
  if (seconds / (2 * rounds) < 5) throw new Error(`--seconds ${seconds} over ${rounds} rounds leaves phases shorter than 5 s`);
  return { guests, seconds, rounds, accelerator: values.kvm ? 'kvm' : 'tcg', json: values.json };
}
