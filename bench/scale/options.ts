// The harness's command line.
import { parseArgs } from 'node:util';

/** The VMs are spread over this many tenants, each a prefix of its own for the fan-out phase. */
export const TENANTS = 10;
/** Phases of a round: subscribed, fan-out, scraped, peers. */
export const PHASES = 4;

export interface Options {
  vms: number;
  /** The daemon's --interval, in seconds. */
  interval: number;
  /** Subscribers of the fan-out phase, spread evenly over the tenants' prefixes. */
  subscribers: number;
  /** The responsiveness probe's period in ms; 0 runs none (an idle daemon, measured as such). */
  probeEveryMs: number;
  /** The measured time, split into rounds of three equal phases. */
  seconds: number;
  rounds: number;
  /** Ticks let pass after registration before measuring (JIT, first allocations). */
  warmupSeconds: number;
  json: boolean;
  profile: boolean;
  nodeOptions: string[];
}

export const usage = `usage: npm run bench:scale -- [--vms N] [--seconds S] [--rounds R] [--warmup S] [--interval S]
                              [--subscribers N] [--probe-every MS] [--json] [--profile] [--node-option FLAG]...

As root: N idle processes standing in for VMs, two taps each, in ${TENANTS} tenants (VM names
scale.tenantT.vmI), registered with a vmm-stats daemon (/metrics on loopback) and with process-exporter
and node_exporter (netdev only); then R rounds of four phases of S/(4R) seconds each: one connection
subscribed to every VM, no scrapes (the C floor reads the same pids and taps meanwhile); the fan-out,
--subscribers connections each subscribed to one tenant; our /metrics alone scraped once a second; the
peers alone scraped in turn, each at most once a second (less often when a scrape takes longer). Rounds
interleave the phases, so that another load on the machine weighs on all of them alike; each figure is
the median of its rounds. Throughout, a client in a process of its own sends a request every
--probe-every ms and times the replies. Reports the daemon's CPU per tick and per scrape against the C
floor and the peers, the fan-out's cost, the request and scrape latencies, how long ticks held the
daemon's event loop, and its RSS. Cleans up (processes, taps) even when interrupted.

  --vms N       VMs (default 100)
  --interval S  the daemon's tick interval in seconds (default 1)
  --subscribers N
                connections of the fan-out phase, one tenant's prefix each, round robin (default 100)
  --probe-every MS
                the responsiveness probe's period (default 10); 0: no probe, for an idle daemon.
                It pauses in the subscribed and fan-out phases, whose ticks are compared
  --seconds S   measured seconds (default 120)
  --rounds R    rounds of the four phases (default: one per 40 s, at most 4); a phase lasts at least 5 s
  --warmup S    seconds between registration and measuring, at least (default 10); the warmup lasts
                until the daemon has opened or given up on every VM's hypervisor counters (5
                attempts each, 100 a tick: 50 s at 1000 stand-ins, which have none)
  --json        one JSON line on stdout instead of the table
  --profile     run the daemon under node --cpu-prof and summarise where its time went
  --node-option FLAG
                a node option for the daemon's process (repeatable), to try a tuning such as
                --node-option=--max-semi-space-size=2`;

export function positiveInteger(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${flag} takes a whole number from ${min}, not '${text}'`);
  return value;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      vms: { type: 'string', default: '100' },
      interval: { type: 'string', default: '1' },
      subscribers: { type: 'string', default: '100' },
      'probe-every': { type: 'string', default: '10' },
      seconds: { type: 'string', default: '120' },
      rounds: { type: 'string' },
      warmup: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'node-option': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const vms = positiveInteger('--vms', values.vms, 1);
  // Tap names are MARKER, the index and a letter: 15 characters (IFNAMSIZ - 1) allow 7 digits.
  if (vms > 9_999_999) throw new Error('--vms: at most 9999999');
  const seconds = positiveInteger('--seconds', values.seconds, 15);
  const rounds = values.rounds === undefined
    ? Math.min(4, Math.max(1, Math.floor(seconds / 40)))
    : positiveInteger('--rounds', values.rounds, 1);
  if (seconds / (PHASES * rounds) < 5) throw new Error(`--seconds ${seconds} over ${rounds} rounds leaves phases shorter than 5 s`);
  return {
    vms,
    interval: positiveInteger('--interval', values.interval, 1),
    subscribers: positiveInteger('--subscribers', values.subscribers, 1),
    probeEveryMs: positiveInteger('--probe-every', values['probe-every'], 0),
    seconds,
    rounds,
    warmupSeconds: positiveInteger('--warmup', values.warmup, 0),
    json: values.json,
    profile: values.profile,
    nodeOptions: values['node-option'],
  };
}

/** A bench's options, or the exit status once `--help` or a mistake on the command line was answered. */
export function commandLine<T>(bench: string, parse: (argv: string[]) => T | 'help', help: string): T | number {
  let options: T | 'help';
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${bench}: ${(err as Error).message}\n${help}\n`);
    return 2;
  }
  if (options !== 'help') return options;
  process.stdout.write(`${help}\n`);
  return 0;
}
