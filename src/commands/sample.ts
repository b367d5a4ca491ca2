import { RUSAGE_LAYOUT, type IfDataField, type RusageField } from '../wire/layouts.js';
import type { IfData, VmmCounter } from '../wire/messages.js';
import {
  DEFAULT_DEBUGFS_ROOT,
  InterfaceSampler,
  openVmmDevice,
  sampleProcess,
  type ProcessSample,
  type VmmTarget,
} from '../sampler/sampler.js';
import { MAX_PID } from '../vm/vm.js';
import { parseCommandLine, parseInteger, type Command } from './command.js';
import { usageText, type OptionTable } from './options.js';

const sampleOptions = {
  pid: { type: 'string', placeholder: 'PID', help: 'the process to sample (a VMM)' },
  tap: { type: 'string', multiple: true, placeholder: 'IF', help: 'an interface to read as well; repeat it for several' },
  vmm: {
    type: 'boolean',
    help:
      "read the VM's hypervisor counters too: on Linux KVM's statistics of PID, from the statistics fds PID " +
      'keeps open (needs root, or CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH), else from debugfs; ' +
      'on FreeBSD those of /dev/vmm/NAME (see --vmm-device)',
  },
  'vmm-device': {
    type: 'string',
    placeholder: 'NAME',
    help: "the VM's device on FreeBSD (solo5-hvt names it solo5-PID); not empty, '.' or '..', no '/', " +
      "shorter than the kernel's VM_MAX_NAMELEN; implies --vmm",
  },
  debugfs: {
    type: 'string',
    placeholder: 'DIR',
    defaultText: DEFAULT_DEBUGFS_ROOT,
    help: 'where KVM publishes its statistics in debugfs on Linux, read when PID keeps no statistics fd; implies --vmm',
  },
  json: { type: 'boolean', help: 'print one JSON object instead: u64 values as decimal strings, others as numbers' },
} satisfies OptionTable;

const usage = usageText(
  `usage: vmm-stats sample --pid PID [--tap IF]... [--vmm] [--vmm-device NAME] [--debugfs DIR] [--json]

Takes one sample of a process and its interfaces, as the collector does every tick, and prints it.`,
  sampleOptions,
  `Any error (no such process, no such interface, no hypervisor counters) is printed on stderr, exit status 1.

examples:
  vmm-stats sample --pid 4242 --tap tap0
  vmm-stats sample --pid 4242 --vmm --json`,
);

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'take one sample of a process, its interfaces and its hypervisor counters, and print it',
  options: sampleOptions,
  usage,
  async run(argv) {
    const { values } = parseCommandLine(argv, sampleOptions);
    const pid = parseInteger('--pid', values.pid, 1, MAX_PID);
    const vmmTarget: VmmTarget | undefined =
      values.vmm || values['vmm-device'] !== undefined || values.debugfs !== undefined
        ? { pid, deviceName: values['vmm-device'], debugfsRoot: values.debugfs }
        : undefined;
    const sample = takeSample(pid, values.tap ?? [], vmmTarget);
    process.stdout.write(values.json ? toJson(sample) + '\n' : toText(sample));
    return 0;
  },
};

interface Sample {
  process: ProcessSample;
  ifdata: IfData[];
  vmm: VmmCounter[] | undefined;
}

/** Throws the first SamplerError: a sample with a part missing is not what was asked for. */
function takeSample(pid: number, taps: string[], vmmTarget: VmmTarget | undefined): Sample {
  const process = sampleProcess(pid);
  return { process, ifdata: readInterfaces(taps), vmm: vmmTarget === undefined ? undefined : readVmm(vmmTarget) };
}

function readInterfaces(names: string[]): IfData[] {
  if (names.length === 0) return [];
  const sampler = new InterfaceSampler();
  try {
    return sampler.sample(names).map((result) => {
      if (!result.ok) throw result.error;
      return result.value;
    });
  } finally {
    sampler.close();
  }
}

function readVmm(target: VmmTarget): VmmCounter[] {
  const device = openVmmDevice(target);
  try {
    return device.read();
  } finally {
    device.close();
  }
}

function toJson(sample: Sample): string {
  const { pid, startTime, rusage } = sample.process;
  const body = { pid, startTime, rusage, ifdata: sample.ifdata, ...(sample.vmm === undefined ? {} : { vmm: sample.vmm }) };
  return JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

// --- for a person ---

/** What each rusage field counts: a line each, in the layout's order (src/wire/layouts.ts). */
const RUSAGE_NOTES: Record<RusageField, string> = {
  utime: 'user CPU time',
  stime: 'system CPU time',
  maxrss: 'max resident set, KiB',
  ixrss: 'shared text',
  idrss: 'unshared data',
  isrss: 'unshared stack',
  minflt: 'minor page faults',
  majflt: 'major page faults',
  nswap: 'swaps',
  inblock: 'blocks read',
  outblock: 'blocks written',
  msgsnd: 'messages sent',
  msgrcv: 'messages received',
  nsignals: 'signals',
  nvcsw: 'voluntary context switches',
  nivcsw: 'involuntary context switches',
};

function seconds(time: { sec: bigint; usec: number }): string {
  return `${time.sec}.${String(time.usec).padStart(6, '0')} s`;
}

function table(rows: [string, string, string][]): string {
  const nameWidth = Math.max(...rows.map(([name]) => name.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  return rows
    .map(([name, value, note]) => `  ${name.padEnd(nameWidth)}  ${value.padStart(valueWidth)}${note ? `  ${note}` : ''}\n`)
    .join('');
}

function toText(sample: Sample): string {
  const { pid, startTime, rusage } = sample.process;
  const parts = [
    `process ${pid} (start time ${startTime})\n`,
    table(
      RUSAGE_LAYOUT.map(({ key }): [string, string, string] => {
        const value = rusage[key];
        return [key, typeof value === 'bigint' ? value.toString() : seconds(value), RUSAGE_NOTES[key]];
      }),
    ),
  ];
  for (const ifdata of sample.ifdata) parts.push(interfaceText(ifdata));
  if (sample.vmm !== undefined) {
    parts.push('hypervisor counters\n');
    parts.push(sample.vmm.length === 0 ? '  (none)\n' : table(sample.vmm.map(([name, value]) => [name, value.toString(), ''])));
  }
  return parts.join('');
}

const pair = (input: bigint, output: bigint): string => `${input} in, ${output} out`;

interface InterfaceLine {
  label: string;
  fields: readonly IfDataField[];
  show(i: IfData): [value: string, note: string];
}

/** `lines` when they show every counter of the layout between them; a type error naming the others otherwise. */
function showingEveryCounter<const L extends readonly InterfaceLine[]>(
  lines: L & ([Exclude<IfDataField, L[number]['fields'][number]>] extends [never] ? unknown : { unshown: Exclude<IfDataField, L[number]['fields'][number]> }),
): L {
  return lines;
}

/** An interface's lines: each shows some of its counters, and every counter is on one. */
const INTERFACE_LINES = showingEveryCounter([
  { label: 'flags', fields: ['flags'], show: (i: IfData) => [`0x${i.flags.toString(16)}`, ''] },
  { label: 'mtu', fields: ['mtu'], show: (i: IfData) => [String(i.mtu), ''] },
  { label: 'baudrate', fields: ['baudrate'], show: (i: IfData) => [i.baudrate.toString(), 'bit/s, 0 when unknown'] },
  {
    label: 'send queue',
    fields: ['send_length', 'max_send_length', 'send_drops'],
    show: (i: IfData) => [`${i.send_length}/${i.max_send_length}`, `length/maximum, ${i.send_drops} dropped`],
  },
  {
    label: 'packets',
    fields: ['input_packets', 'output_packets'],
    show: (i: IfData) => [pair(i.input_packets, i.output_packets), 'input = from the VM on its tap'],
  },
  { label: 'bytes', fields: ['input_bytes', 'output_bytes'], show: (i: IfData) => [pair(i.input_bytes, i.output_bytes), ''] },
  { label: 'errors', fields: ['input_errors', 'output_errors'], show: (i: IfData) => [pair(i.input_errors, i.output_errors), ''] },
  { label: 'multicast', fields: ['input_mcast', 'output_mcast'], show: (i: IfData) => [pair(i.input_mcast, i.output_mcast), ''] },
  {
    label: 'dropped',
    fields: ['input_dropped', 'output_dropped'],
    show: (i: IfData) => [pair(i.input_dropped, i.output_dropped), ''],
  },
  { label: 'collisions', fields: ['collisions'], show: (i: IfData) => [i.collisions.toString(), ''] },
]);

function interfaceText(ifdata: IfData): string {
  return (
    `interface ${ifdata.name}\n` +
    table(INTERFACE_LINES.map(({ label, show }): [string, string, string] => [label, ...show(ifdata)]))
  );
}
