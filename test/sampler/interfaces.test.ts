import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterfaceSampler, missingInterfaceNames, SamplerError } from '../../src/sampler/sampler.js';
import type { IfData } from '../../src/wire/messages.js';
import { TapVmm, tapUnavailableReason, uniqueInterfaceName } from '../helpers/net.js';
import { pythonUnavailableReason } from './usage-child.js';

const unavailable = tapUnavailableReason() ?? pythonUnavailableReason();
if (unavailable !== undefined) console.warn(`skipping the tap tests: ${unavailable}`);

const IFF_UP = 0x1;
const FRAME_BYTES = 120;

/** A sampler that reads interfaces by one link dump, or by one request per name, or as it sees fit. */
function samplerFor(strategy: 'dump' | 'request' | undefined): InterfaceSampler {
  const saved = process.env.VMM_STATS_LINK_STRATEGY;
  if (strategy === undefined) delete process.env.VMM_STATS_LINK_STRATEGY;
  else process.env.VMM_STATS_LINK_STRATEGY = strategy;
  const sampler = new InterfaceSampler();
  try {
    sampler.sample(['lo']); // opens the socket, which is when the strategy is read
  } finally {
    if (saved === undefined) delete process.env.VMM_STATS_LINK_STRATEGY;
    else process.env.VMM_STATS_LINK_STRATEGY = saved;
  }
  return sampler;
}

function one(sampler: InterfaceSampler, name: string): IfData {
  const [result] = sampler.sample([name]);
  if (!result!.ok) throw result!.error;
  return result!.value;
}

/** What /sys/class/net/<if>/speed says, in bit/s; 0 where the kernel does not know the speed. */
function sysfsBaudrate(name: string): bigint {
  try {
    const megabits = Number(readFileSync(`/sys/class/net/${name}/speed`, 'utf8'));
    return megabits > 0 ? BigInt(megabits) * 1_000_000n : 0n;
  } catch {
    return 0n;
  }
}

describe('interfaces that do not exist', () => {
  it('are the names missingInterfaceNames gives, in order; the others exist', () => {
    const missing = uniqueInterfaceName('vstno');
    expect(missingInterfaceNames(['lo', missing, '', 'x'.repeat(16), 'a\nb', 'lo'])).toEqual([missing, '', 'x'.repeat(16), 'a\nb']);
    expect(missingInterfaceNames([])).toEqual([]);
  });

  it.each(['dump', 'request'] as const)('are ENODEV, never a zeroed record (by %s)', (strategy) => {
    const sampler = samplerFor(strategy);
    try {
      const missing = uniqueInterfaceName('vstno');
      const results = sampler.sample(['lo', missing, '', 'x'.repeat(16), 'a\nb', 'lo']);
      expect(results.map((result) => result.ok)).toEqual([true, false, false, false, false, true]);
      for (const result of results.slice(1, 5)) {
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.error).toBeInstanceOf(SamplerError);
          expect(result.error.code).toBe('ENODEV');
        }
      }
      const second = results[1]!;
      expect(!second.ok && second.error.message).toContain(missing);
      expect(results[5]).toEqual(results[0]);
    } finally {
      sampler.close();
    }
  });

  it('refuses to sample once closed', () => {
    const sampler = samplerFor(undefined);
    sampler.close();
    expect(() => sampler.sample(['lo'])).toThrow(SamplerError);
  });
});

describe.skipIf(unavailable !== undefined)('a tap with a VMM attached', () => {
  let tap: TapVmm;
  let samplers: Record<'dump' | 'request' | 'auto', InterfaceSampler>;

  beforeAll(async () => {
    samplers = { dump: samplerFor('dump'), request: samplerFor('request'), auto: samplerFor(undefined) };
    tap = await TapVmm.create(uniqueInterfaceName('vsts'));
    execFileSync('ip', ['link', 'set', tap.name, 'mtu', '1400', 'txqueuelen', '777']);
  });

  afterAll(async () => {
    for (const sampler of Object.values(samplers ?? {})) sampler.close();
    await tap?.destroy();
  });

  it('counts frames the VM writes as input, exactly, and nothing as output', async () => {
    const before = one(samplers.auto, tap.name);
    await tap.send(25, FRAME_BYTES);
    const after = one(samplers.auto, tap.name);
    expect(after.input_packets - before.input_packets).toBe(25n);
    expect(after.input_bytes - before.input_bytes).toBe(25n * BigInt(FRAME_BYTES));
    expect(after.output_packets - before.output_packets).toBe(0n);
    expect(after.output_bytes - before.output_bytes).toBe(0n);
  });

  it('reads the same counters by dump and by request', async () => {
    await tap.send(3, FRAME_BYTES);
    const byDump = one(samplers.dump, tap.name);
    const byRequest = one(samplers.request, tap.name);
    expect(byRequest).toEqual(byDump);
    expect(byDump.input_packets).toBeGreaterThanOrEqual(3n);
  });

  it('reports the link: name, flags, MTU, queue length, speed', () => {
    for (const sampler of Object.values(samplers)) {
      const link = one(sampler, tap.name);
      expect(link.name).toBe(tap.name);
      expect(link.flags & IFF_UP).toBe(IFF_UP);
      expect(link.mtu).toBe(1400);
      expect(link.max_send_length).toBe(777);
      expect(link.send_length).toBe(0);
      expect(link.baudrate).toBe(sysfsBaudrate(tap.name));
      expect(link.baudrate).toBeGreaterThan(0n); // tun reports a speed for a tap that is up
    }
  });

  it('answers many names in one call, each in its place', () => {
    const missing = uniqueInterfaceName('vstno');
    for (const sampler of Object.values(samplers)) {
      const results = sampler.sample([tap.name, 'lo', missing, tap.name]);
      expect(results.map((result) => result.ok)).toEqual([true, true, false, true]);
      const [first, loopback, , again] = results.map((result) => (result.ok ? result.value : undefined));
      expect(first?.name).toBe(tap.name);
      expect(loopback?.name).toBe('lo');
      expect(again).toEqual(first);
    }
  });
});
