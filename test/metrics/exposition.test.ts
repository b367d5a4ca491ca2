import { describe, expect, it } from 'vitest';
import {
  escapeLabelValue, negotiateFormat, renderMetricsBytes, renderMetricsBytesInSlices, type ChunkedOutput, type VmSnapshot,
} from '../../src/metrics/exposition.js';
import { hypervisorCounters, ifdata, SELF, stats, vm, renderMetrics } from './fixtures.js';
import { Slicer } from '../../src/loop/slicer.js';

const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,'
  + 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

function lines(text: string): string[] {
  return text.split('\n');
}

describe('negotiateFormat', () => {
  it.each([
    [undefined, 'prometheus'],
    ['', 'prometheus'],
    ['*/*', 'prometheus'],
    ['text/plain', 'prometheus'],
    ['text/plain;version=0.0.4', 'prometheus'],
    ['application/json', 'prometheus'],
    [',;;=,', 'prometheus'],
    [PROMETHEUS_ACCEPT, 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['Application/OpenMetrics-Text; Version="1.0.0"', 'openmetrics'],
    ['application/openmetrics-text; version=1.0.0; q=0.5, text/plain; q=0.4', 'openmetrics'],
    ['application/openmetrics-text; version=1.0.0; q=0.3, text/plain; q=0.4', 'prometheus'],
    ['application/openmetrics-text; q=0', 'prometheus'],
    ['application/openmetrics-text; q=bogus', 'prometheus'],
    // A version we do not produce is not what the scraper asked for.
    ['application/openmetrics-text; version=0.0.1', 'prometheus'],
    ['application/openmetrics-text;version=2.0.0, text/plain;q=0.1', 'prometheus'],
  ] as const)('Accept %j gives %s', (accept, format) => {
    expect(negotiateFormat(accept)).toEqual({ format, contentType: format === 'openmetrics' ? OPENMETRICS : TEXT });
  });
});

describe('escapeLabelValue', () => {
  it('escapes backslash, double quote and newline, and nothing else', () => {
    expect(escapeLabelValue('a"b\\c\nd\tü🙂')).toBe('a\\"b\\\\c\\nd\tü🙂');
    expect(escapeLabelValue('\\n')).toBe('\\\\n');
    expect(escapeLabelValue('plain.name')).toBe('plain.name');
  });
});

describe('renderMetrics, Prometheus text format', () => {
  const odd = vm('tenant."web"\\db\nü🙂', [ifdata('tap"0\\')], [['exits "nested"\\pf\n', 5n]]);
  const text = renderMetrics([odd], SELF, 'prometheus');

  it('escapes the vm, interface and counter labels exactly', () => {
    const vmLabel = 'vm="tenant.\\"web\\"\\\\db\\nü🙂"';
    expect(lines(text)).toContain(`vmm_stats_vm_cpu_user_seconds_total{${vmLabel}} 12.500000`);
    expect(lines(text)).toContain(`vmm_stats_tap_from_vm_bytes_total{${vmLabel},interface="tap\\"0\\\\"} 206`);
    expect(lines(text)).toContain(`vmm_stats_vm_hypervisor_stat{${vmLabel},counter="exits \\"nested\\"\\\\pf\\n"} 5`);
  });

  it('renders every rusage family in base units, with HELP and TYPE naming the sample', () => {
    const v = 'vm="tenant.\\"web\\"\\\\db\\nü🙂"';
    const expected = [
      ['vmm_stats_vm_cpu_user_seconds_total', 'counter', '12.500000'],
      ['vmm_stats_vm_cpu_system_seconds_total', 'counter', '3.000025'],
      ['vmm_stats_vm_max_resident_memory_bytes', 'gauge', '2097152'],
      ['vmm_stats_vm_minor_page_faults_total', 'counter', '101'],
      ['vmm_stats_vm_major_page_faults_total', 'counter', '102'],
      ['vmm_stats_vm_block_input_operations_total', 'counter', '103'],
      ['vmm_stats_vm_block_output_operations_total', 'counter', '104'],
      ['vmm_stats_vm_ipc_messages_sent_total', 'counter', '105'],
      ['vmm_stats_vm_ipc_messages_received_total', 'counter', '106'],
      ['vmm_stats_vm_signals_received_total', 'counter', '107'],
      ['vmm_stats_vm_voluntary_context_switches_total', 'counter', '108'],
      ['vmm_stats_vm_involuntary_context_switches_total', 'counter', '109'],
    ];
    for (const [name, type, value] of expected) {
      const at = lines(text).indexOf(`# TYPE ${name} ${type}`);
      expect(at, name).toBeGreaterThan(0);
      expect(lines(text)[at - 1]).toMatch(new RegExp(`^# HELP ${name} \\S`));
      expect(lines(text)[at + 1]).toBe(`${name}{${v}} ${value}`);
    }
    expect(text).not.toMatch(/nswap|ixrss|idrss|isrss/);
  });

  it('renders every tap family, receive and transmit named by direction relative to the VM', () => {
    const series = lines(text).filter((l) => l.startsWith('vmm_stats_tap_')).map((l) => l.replace(/\{.*\}/, ''));
    expect(series).toEqual([
      'vmm_stats_tap_from_vm_bytes_total 206',
      'vmm_stats_tap_to_vm_bytes_total 207',
      'vmm_stats_tap_from_vm_packets_total 201',
      'vmm_stats_tap_to_vm_packets_total 203',
      'vmm_stats_tap_from_vm_multicast_packets_total 208',
      'vmm_stats_tap_to_vm_multicast_packets_total 209',
      'vmm_stats_tap_from_vm_errors_total 202',
      'vmm_stats_tap_to_vm_errors_total 204',
      'vmm_stats_tap_from_vm_drops_total 210',
      'vmm_stats_tap_to_vm_drops_total 211',
      'vmm_stats_tap_collisions_total 205',
      'vmm_stats_tap_mtu_bytes 1500',
      'vmm_stats_tap_up 1',
      'vmm_stats_tap_to_vm_queue_length 3',
      'vmm_stats_tap_to_vm_queue_max_length 1000',
      'vmm_stats_tap_to_vm_queue_drops_total 4',
    ]);
    expect(text).toContain('# HELP vmm_stats_tap_from_vm_bytes_total Bytes from the VM to the host (the host receives '
      + 'it on the tap: ifdata input).\n');
  });

  it('ends with the self-metrics, the tick summary as _sum and _count', () => {
    expect(text.endsWith([
      '# HELP vmm_stats_vms VMs whose statistics this endpoint serves.',
      '# TYPE vmm_stats_vms gauge',
      'vmm_stats_vms 2',
      '# HELP vmm_stats_subscribers Connections subscribed to Data frames.',
      '# TYPE vmm_stats_subscribers gauge',
      'vmm_stats_subscribers 1',
      '# HELP vmm_stats_dropped_data_frames_total Data frames dropped because a subscriber did not read them in time.',
      '# TYPE vmm_stats_dropped_data_frames_total counter',
      'vmm_stats_dropped_data_frames_total 7',
      "# HELP vmm_stats_collector_interval_seconds The collector's tick interval: a tick that takes longer overruns it.",
      '# TYPE vmm_stats_collector_interval_seconds gauge',
      'vmm_stats_collector_interval_seconds 10',
      '# HELP vmm_stats_collector_last_tick_duration_seconds Time the last collector tick took to sample every VM.',
      '# TYPE vmm_stats_collector_last_tick_duration_seconds gauge',
      'vmm_stats_collector_last_tick_duration_seconds 0.25',
      '# HELP vmm_stats_collector_hypervisor_opens_pending VMs whose hypervisor counters the collector is still trying to open.',
      '# TYPE vmm_stats_collector_hypervisor_opens_pending gauge',
      'vmm_stats_collector_hypervisor_opens_pending 3',
      '# HELP vmm_stats_collector_tick_duration_seconds Collector ticks: their count and total duration '
        + '(average tick: rate of _sum over rate of _count).',
      '# TYPE vmm_stats_collector_tick_duration_seconds summary',
      'vmm_stats_collector_tick_duration_seconds_sum 3.5',
      'vmm_stats_collector_tick_duration_seconds_count 40',
      '# HELP vmm_stats_collector_tick_blocking_seconds Per tick, the longest stretch it held the event loop (its reads '
        + 'run off it): what requests and scrapes waited behind.',
      '# TYPE vmm_stats_collector_tick_blocking_seconds histogram',
      'vmm_stats_collector_tick_blocking_seconds_bucket{le="0.01"} 1',
      'vmm_stats_collector_tick_blocking_seconds_bucket{le="0.1"} 2',
      'vmm_stats_collector_tick_blocking_seconds_bucket{le="+Inf"} 2',
      'vmm_stats_collector_tick_blocking_seconds_sum 0.034',
      'vmm_stats_collector_tick_blocking_seconds_count 2',
      '',
    ].join('\n'))).toBe(true);
    expect(text).not.toContain('vmm_stats_scrape_duration_seconds');
    expect(text).not.toContain('# EOF');
    expect(text).not.toContain('# UNIT');
  });

  it('renders the previous scrape duration when given', () => {
    const withScrape = renderMetrics([], SELF, 'prometheus', 0.0042);
    expect(withScrape).toContain('# TYPE vmm_stats_scrape_duration_seconds gauge\nvmm_stats_scrape_duration_seconds 0.0042\n');
  });
});

describe('renderMetrics values', () => {
  it('renders u64 extremes exactly, not through a double', () => {
    const max = 18446744073709551615n;
    const big = vm('big', [ifdata('tap0', { input_bytes: max, output_bytes: 9007199254740993n })], [['c', max]]);
    big.stats.rusage = { ...big.stats.rusage, minflt: max, maxrss: max, utime: { sec: max, usec: 999_999 } };
    const text = renderMetrics([big], SELF, 'prometheus');
    expect(lines(text)).toContain('vmm_stats_vm_minor_page_faults_total{vm="big"} 18446744073709551615');
    expect(lines(text)).toContain(`vmm_stats_vm_max_resident_memory_bytes{vm="big"} ${max * 1024n}`);
    expect(lines(text)).toContain('vmm_stats_vm_cpu_user_seconds_total{vm="big"} 18446744073709551615.999999');
    expect(lines(text)).toContain('vmm_stats_tap_from_vm_bytes_total{vm="big",interface="tap0"} 18446744073709551615');
    expect(lines(text)).toContain('vmm_stats_tap_to_vm_bytes_total{vm="big",interface="tap0"} 9007199254740993');
    expect(lines(text)).toContain('vmm_stats_vm_hypervisor_stat{vm="big",counter="c"} 18446744073709551615');
  });

  it('renders every count of digits, and both sides of the largest double-exact integer', () => {
    const values = [0n, 7n, 9n, 10n, 99n, 100n, 1000000007n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 10n ** 19n];
    const counters = values.map((value, i): [string, bigint] => [`c${i}`, value]);
    const text = renderMetrics([vm('v', [], counters)], SELF, 'prometheus');
    const rendered = lines(text).filter((l) => l.startsWith('vmm_stats_vm_hypervisor_stat{'));
    expect(rendered).toEqual(values.map((value, i) => `vmm_stats_vm_hypervisor_stat{vm="v",counter="c${i}"} ${value}`));
  });

  it('renders seconds from sec and usec exactly, normalising a usec beyond a second', () => {
    const at = (sec: bigint, usec: number) => {
      const v: VmSnapshot = { name: 'v', stats: stats([], [], { utime: { sec, usec } }) };
      return lines(renderMetrics([v], SELF, 'prometheus')).find((l) => l.startsWith('vmm_stats_vm_cpu_user'));
    };
    expect(at(0n, 5)).toBe('vmm_stats_vm_cpu_user_seconds_total{vm="v"} 0.000005');
    expect(at(7n, 0)).toBe('vmm_stats_vm_cpu_user_seconds_total{vm="v"} 7.000000');
    expect(at(1n, 2_500_000)).toBe('vmm_stats_vm_cpu_user_seconds_total{vm="v"} 3.500000');
  });

  it("renders the standalone exporter's upstream state, and no collector families without a collector", () => {
    const text = renderMetrics([], { vms: 0, upstreamUp: false }, 'prometheus');
    expect(lines(text)).toContain('vmm_stats_exporter_upstream_up 0');
    expect(text).not.toContain('vmm_stats_collector_');
  });

  it('reports a tap that is down as 0', () => {
    const text = renderMetrics([vm('v', [ifdata('tap0', { flags: 0x8842 })])], SELF, 'prometheus');
    expect(lines(text)).toContain('vmm_stats_tap_up{vm="v",interface="tap0"} 0');
  });

  it('renders non-finite self-metrics as the formats spell them', () => {
    const text = renderMetrics([], { vms: 0, collector: { ...SELF.collector!, lastTickSeconds: Infinity, tickSecondsTotal: NaN } }, 'prometheus');
    expect(lines(text)).toContain('vmm_stats_collector_last_tick_duration_seconds +Inf');
    expect(lines(text)).toContain('vmm_stats_collector_tick_duration_seconds_sum NaN');
  });

  it('renders a repeated VM, tap or counter once, from its first occurrence', () => {
    const first = vm('dup', [ifdata('tap0'), ifdata('tap0', { mtu: 9000 })], [['c', 1n], ['c', 2n]]);
    const text = renderMetrics([first, vm('dup', [ifdata('tap1')])], SELF, 'prometheus');
    expect(lines(text).filter((l) => l.startsWith('vmm_stats_vm_major_page_faults_total{'))).toEqual([
      'vmm_stats_vm_major_page_faults_total{vm="dup"} 102',
    ]);
    expect(lines(text).filter((l) => l.startsWith('vmm_stats_tap_mtu_bytes{'))).toEqual([
      'vmm_stats_tap_mtu_bytes{vm="dup",interface="tap0"} 1500',
    ]);
    expect(lines(text).filter((l) => l.startsWith('vmm_stats_vm_hypervisor_stat{'))).toEqual([
      'vmm_stats_vm_hypervisor_stat{vm="dup",counter="c"} 1',
    ]);
  });

  it('leaves out families without samples', () => {
    const text = renderMetrics([vm('no-taps')], SELF, 'prometheus');
    expect(text).not.toContain('vmm_stats_tap_');
    expect(text).not.toContain('vmm_stats_vm_hypervisor_stat');
    expect(renderMetrics([], SELF, 'prometheus')).not.toContain('vmm_stats_vm_');
  });

  it('groups each family across VMs, in the order the VMs come', () => {
    const text = renderMetrics([vm('b', [ifdata('t')]), vm('a', [ifdata('t')])], SELF, 'prometheus');
    const names = lines(text).filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\{.*/, ''));
    for (const name of new Set(names)) {
      const at = names.flatMap((n, i) => (n === name ? [i] : []));
      expect(at[at.length - 1]! - at[0]!, `${name} is contiguous`).toBe(at.length - 1);
    }
    expect(lines(text)).toContain('vmm_stats_vm_cpu_user_seconds_total{vm="b"} 12.500000');
    expect(lines(text).indexOf('vmm_stats_vm_cpu_user_seconds_total{vm="b"} 12.500000'))
      .toBe(lines(text).indexOf('vmm_stats_vm_cpu_user_seconds_total{vm="a"} 12.500000') - 1);
  });

  it('gives renderMetricsBytes the UTF-8 of renderMetrics', () => {
    const vms = [vm('ünï🙂', [ifdata('tap0')], hypervisorCounters(5))];
    const text = renderMetrics(vms, SELF, 'openmetrics', 1);
    expect(renderMetricsBytes(vms, SELF, 'openmetrics', 1).equals(Buffer.from(text))).toBe(true);
  });
});

describe('renderMetrics, OpenMetrics', () => {
  const text = renderMetrics([vm('web', [ifdata('tap0')], [['exits', 5n]])], SELF, 'openmetrics', 0.5);

  it('names a counter family without _total and its samples with it, and gives units', () => {
    expect(text).toContain([
      "# HELP vmm_stats_vm_cpu_user_seconds CPU time the VM's process spent in user mode (rusage utime).",
      '# TYPE vmm_stats_vm_cpu_user_seconds counter',
      '# UNIT vmm_stats_vm_cpu_user_seconds seconds',
      'vmm_stats_vm_cpu_user_seconds_total{vm="web"} 12.500000',
      '',
    ].join('\n'));
    expect(text).toContain([
      '# TYPE vmm_stats_vm_max_resident_memory_bytes gauge',
      '# UNIT vmm_stats_vm_max_resident_memory_bytes bytes',
      'vmm_stats_vm_max_resident_memory_bytes{vm="web"} 2097152',
    ].join('\n'));
    expect(text).toContain([
      '# TYPE vmm_stats_tap_from_vm_bytes counter',
      '# UNIT vmm_stats_tap_from_vm_bytes bytes',
      'vmm_stats_tap_from_vm_bytes_total{vm="web",interface="tap0"} 206',
    ].join('\n'));
    expect(text).toContain('# TYPE vmm_stats_tap_from_vm_packets counter\nvmm_stats_tap_from_vm_packets_total{');
    expect(text).toContain([
      '# TYPE vmm_stats_collector_tick_duration_seconds summary',
      '# UNIT vmm_stats_collector_tick_duration_seconds seconds',
      'vmm_stats_collector_tick_duration_seconds_sum 3.5',
      'vmm_stats_collector_tick_duration_seconds_count 40',
    ].join('\n'));
  });

  it('declares every unit as the suffix of its family name', () => {
    for (const line of lines(text).filter((l) => l.startsWith('# UNIT '))) {
      const [, , name, unit] = line.split(' ');
      expect(name?.endsWith(`_${unit}`), line).toBe(true);
    }
  });

  it('ends with # EOF and nothing after it', () => {
    expect(text.endsWith('vmm_stats_collector_tick_blocking_seconds_count 2\n# EOF\n')).toBe(true);
    expect(text.indexOf('# EOF')).toBe(text.length - '# EOF\n'.length);
  });
});

describe('renderMetricsBytesInSlices', () => {
  const many = Array.from({ length: 3000 }, (_, i) => vm(`tenant.vm${i}`, [ifdata(`tap${i}`)], hypervisorCounters(3)));

  it('renders the same bytes as at once, in slices between which timers run', async () => {
    const whole = renderMetricsBytes(many, SELF, 'openmetrics', 0.5);
    let turns = 0;
    const counting = setInterval(() => turns++, 0);
    const slicer = new Slicer(0.5);
    try {
      const sliced = await renderMetricsBytesInSlices(many, SELF, 'openmetrics', 0.5, slicer);
      expect(sliced?.equals(whole)).toBe(true);
    } finally {
      clearInterval(counting);
    }
    expect(turns).toBeGreaterThan(0);
  });

  /** An output that keeps what it is sent, and wants no more after `wanted` chunks. */
  function collecting(chunkBytes: number, wanted = Infinity) {
    const chunks: Buffer[] = [];
    const output: ChunkedOutput = {
      chunkBytes,
      memory: () => Buffer.alloc(chunkBytes + 1024, 0x2a),
      send: async (chunk) => {
        chunks.push(Buffer.from(chunk));
        return chunks.length < wanted;
      },
    };
    return { chunks, output };
  }

  it('sends chunks of at least chunkBytes as it goes, which with the last one are the whole', async () => {
    const whole = renderMetricsBytes(many, SELF, 'prometheus', 0.5);
    const { chunks, output } = collecting(16 * 1024);
    const last = await renderMetricsBytesInSlices(many, SELF, 'prometheus', 0.5, new Slicer(), output);
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) expect(chunk.length).toBeGreaterThanOrEqual(16 * 1024);
    expect(Buffer.concat([...chunks, last!]).equals(whole)).toBe(true);
  });

  it('stops once the output wants no more', async () => {
    const { chunks, output } = collecting(16 * 1024, 2);
    expect(await renderMetricsBytesInSlices(many, SELF, 'prometheus', 0.5, new Slicer(), output)).toBeUndefined();
    expect(chunks).toHaveLength(2);
  });
});
