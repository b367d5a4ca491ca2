// Real QEMU guests (test/helpers/guest.ts) watched by a real daemon (`bin/vmm-stats daemon`) over its
// socket and its metrics endpoint, and by a real Prometheus. Everything that has an address (the taps,
// QEMU, the daemon, Prometheus) lives in a network namespace of this file's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Message, Unsent } from '../../src/wire/messages.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';
import { guestImage, guestUnavailableReason, type GuestImage } from '../helpers/guest.js';
import { uniqueInterfaceName } from '../helpers/net.js';
import { NetworkNamespace } from '../helpers/netns.js';
import { RawPeer } from '../helpers/peer.js';
import { eventually } from '../helpers/processes.js';
import { findTool, startPrometheus, type InstantSample, type PrometheusServer } from '../helpers/prometheus.js';
import { kvmUsable, QemuGuest, type GuestSpec } from '../helpers/qemu.js';

const unavailable = guestUnavailableReason();
if (unavailable) console.warn(`skipping the QEMU guest tests: ${unavailable}`);
const prometheusBinary = findTool('prometheus');

const INTERVAL_SECONDS = 1;
const PINGS = 200;
/** An echo request or reply of ping's default 56 data bytes: 8 of ICMP, 20 of IPv4, 14 of Ethernet. */
const PING_FRAME_BYTES = 98;
const BURN_SECONDS = 4;
const TOUCH_MIB = 128;
const NAME = ['qemu', 'guest'];
const VM = NAME.join('.');

type Data = Extract<Message, { kind: 'stats.data' }>;

const cpuSeconds = (data: Data) => {
  const { utime, stime } = data.stats.rusage;
  return Number(utime.sec + stime.sec) + (utime.usec + stime.usec) / 1e6;
};
const maxrssBytes = (data: Data) => Number(data.stats.rusage.maxrss) * 1024;

describe.skipIf(unavailable !== undefined)('real QEMU guests under the daemon', () => {
  const taps = { worker: uniqueInterfaceName('vsqw'), spare: uniqueInterfaceName('vsqs'), kvm: uniqueInterfaceName('vsqk') };
  const guests: QemuGuest[] = [];
  let image: GuestImage;
  let netns: NetworkNamespace;
  let dir: string;
  let daemon: DaemonProcess;
  let peer: RawPeer;
  let prometheus: PrometheusServer | undefined;
  /** The guest that pings, burns and touches; then one that idles, to take its name once it is killed. */
  let worker: QemuGuest;
  let spare: QemuGuest;
  /** The worker's Data frames when it reported these steps. */
  const atStep = new Map<string, Data>();

  let nextId = 1n;
  const ask = async (request: Unsent) => {
    const id = nextId++;
    peer.send({ ...request, id } as Message);
    return peer.reply(id);
  };
  const framesOf = (vm: string) => peer.dataFrames().filter((data) => data.name.join('.') === vm);
  /** The `count`th Data frame of `vm` from now on. */
  const frameAfter = async (vm: string, count = 1) => {
    const seen = framesOf(vm).length;
    await peer.waitFor(() => (framesOf(vm).length >= seen + count ? true : undefined), (count + 3) * INTERVAL_SECONDS * 1000);
    return framesOf(vm).at(-1)!;
  };
  const tapOf = (data: Data, tap: string) => data.stats.ifdata.find((ifdata) => ifdata.name === tap);
  const metrics = async () => parseExposition(await daemon.metrics());

  const spec = (name: string, tap: string, subnet: number, workload: GuestSpec['workload']): GuestSpec => ({
    name, netns, tap, guestAddress: `10.77.${subnet}.2/24`, hostAddress: `10.77.${subnet}.1`, workload, memoryMiB: 512,
  });

  /** Why the guest could not be built (its kernel is downloaded at run time), if it could not. */
  let noImage: string | undefined;

  beforeEach((context) => {
    if (noImage === undefined) return;
    console.warn(`skipping "${context.task.name}": ${noImage}`);
    context.skip();
  });

  beforeAll(async () => {
    try {
      image = await guestImage();
    } catch (err) {
      noImage = `the guest could not be built: ${(err as Error).message.split('\n')[0]}`;
      return;
    }
    netns = NetworkNamespace.create(`vmm-stats-qemu-${process.pid}`);
    // The worker's tap gets the host's address only once the test is watching: the guest pings it then.
    netns.addTap(taps.worker);
    netns.addTap(taps.spare, '10.77.2.1/24');
    dir = mkdtempSync(join(tmpdir(), 'vmm-stats-qemu-'));
    daemon = await DaemonProcess.start(dir, netns, INTERVAL_SECONDS);
    const [booted, idle, prom] = await Promise.all([
      QemuGuest.boot(image, spec('worker', taps.worker, 1, { pings: PINGS, cpuSeconds: BURN_SECONDS, touchMiB: TOUCH_MIB })),
      QemuGuest.boot(image, spec('spare', taps.spare, 2, {})),
      prometheusBinary && startPrometheus(prometheusBinary, daemon.metricsTarget, { netns }),
    ]);
    [worker, spare, prometheus] = [booted, idle, prom || undefined];
    guests.push(worker, spare);
    peer = await RawPeer.connect(daemon.socketPath);
    expect(await ask({ kind: 'stats.add', name: NAME, pid: worker.pid, taps: [taps.worker] })).toMatchObject({ kind: 'success' });
    expect(await ask({ kind: 'stats.subscribe', name: ['qemu'] })).toMatchObject({ kind: 'success' });
    for (const step of ['pinged', 'burned']) worker.onStep(step, () => atStep.set(step, framesOf(VM).at(-1)!));
  }, 300_000);

  afterAll(async () => {
    peer?.close();
    await Promise.all(guests.map((guest) => guest.kill()));
    await prometheus?.stop();
    await daemon?.stop();
    netns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`counts the guest's ${PINGS} pings of the host in both directions, in Data frames and /metrics`, async () => {
    const start = tapOf(await frameAfter(VM), taps.worker)!;
    // Until the host has an address the guest's ARP requests go unanswered: traffic from the VM only.
    const unanswered = await eventually(async () => {
      const tap = tapOf(await frameAfter(VM), taps.worker)!;
      return tap.input_packets > start.input_packets ? tap : undefined;
    }, 20_000, 'ARP requests from the guest');
    expect(unanswered.output_packets).toBe(start.output_packets);

    netns.addAddress(taps.worker, '10.77.1.1/24');
    expect(await worker.reached('pinged', 60_000)).toMatch(`${PINGS} packets transmitted, ${PINGS} packets received`);
    // The next frame may come from a tick that read the tap mid-ping; the one after cannot.
    const after = tapOf(await frameAfter(VM, 2), taps.worker)!;
    expect(after.input_packets - unanswered.input_packets).toBeGreaterThanOrEqual(BigInt(PINGS));
    expect(after.input_bytes - unanswered.input_bytes).toBeGreaterThanOrEqual(BigInt(PINGS * PING_FRAME_BYTES));
    expect(after.output_packets - unanswered.output_packets).toBeGreaterThanOrEqual(BigInt(PINGS));
    expect(after.output_bytes - unanswered.output_bytes).toBeGreaterThanOrEqual(BigInt(PINGS * PING_FRAME_BYTES));

    const samples = await metrics();
    const labels = { vm: VM, interface: taps.worker };
    expect(sampleValue(samples, 'vmm_stats_tap_from_vm_packets_total', labels)).toBeGreaterThanOrEqual(Number(after.input_packets));
    expect(sampleValue(samples, 'vmm_stats_tap_from_vm_bytes_total', labels)).toBeGreaterThanOrEqual(Number(after.input_bytes));
    expect(sampleValue(samples, 'vmm_stats_tap_to_vm_packets_total', labels)).toBeGreaterThanOrEqual(Number(after.output_packets));
    expect(sampleValue(samples, 'vmm_stats_tap_to_vm_bytes_total', labels)).toBeGreaterThanOrEqual(Number(after.output_bytes));
  }, 120_000);

  it("sees QEMU's CPU time rise while the guest burns CPU, and its max RSS cover the memory it touched", async () => {
    await worker.reached('idle', 120_000);
    const idle = await frameAfter(VM, 2);
    const [pinged, burned] = ['pinged', 'burned'].map((step) => atStep.get(step)!);
    // On two shared cores a burning guest gets at least a quarter of one.
    expect(cpuSeconds(burned!) - cpuSeconds(pinged!)).toBeGreaterThan(BURN_SECONDS / 4);
    expect(maxrssBytes(idle)).toBeGreaterThanOrEqual(TOUCH_MIB << 20);
    // Some of the pages the guest wrote were the host's already (the guest's kernel had used them).
    expect(maxrssBytes(idle) - maxrssBytes(burned!)).toBeGreaterThan((TOUCH_MIB / 2) << 20);
    const samples = await metrics();
    expect(sampleValue(samples, 'vmm_stats_vm_max_resident_memory_bytes', { vm: VM })).toBeGreaterThanOrEqual(maxrssBytes(idle));
  }, 150_000);

  it.skipIf(prometheusBinary === undefined)('hands the same numbers to a real Prometheus', async () => {
    const query = async (metric: string, labels: Record<string, string>) => {
      const selector = Object.entries(labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(',');
      const [sample] = await prometheus!.query<InstantSample>(`${metric}{${selector}}`);
      return sample === undefined ? undefined : Number(sample.value[1]);
    };
    const tap = { vm: VM, interface: taps.worker };
    // The guest idles: its tap and its peak memory hold still, so a scrape and our read see the same.
    const steady = [
      ['vmm_stats_tap_from_vm_packets_total', tap], ['vmm_stats_tap_from_vm_bytes_total', tap],
      ['vmm_stats_tap_to_vm_packets_total', tap], ['vmm_stats_tap_to_vm_bytes_total', tap],
      ['vmm_stats_vm_max_resident_memory_bytes', { vm: VM }],
    ] as const;
    const samples = await metrics();
    for (const [metric, labels] of steady) {
      const ours = sampleValue(samples, metric, labels);
      expect(ours).toBeGreaterThan(0);
      await eventually(async () => ((await query(metric, labels)) === ours ? true : undefined), 10_000, `${metric} in Prometheus`);
    }
    // CPU time moves on: what Prometheus scraped lies between our reads before and after its scrape.
    const cpu = 'vmm_stats_vm_cpu_user_seconds_total';
    const before = sampleValue(samples, cpu, { vm: VM })!;
    await new Promise((resolve) => setTimeout(resolve, 2500 * INTERVAL_SECONDS));
    const scraped = (await query(cpu, { vm: VM }))!;
    const after = sampleValue(await metrics(), cpu, { vm: VM })!;
    expect(scraped).toBeGreaterThanOrEqual(before);
    expect(scraped).toBeLessThanOrEqual(after);
  }, 60_000);

  it('gives hypervisor counters of a QEMU under KVM, rising, or says once why there are none', async () => {
    const outcomes = [await hypervisorOutcome(VM, worker)];
    if (worker.accelerator === 'tcg' && kvmUsable()) {
      // No guest booted under KVM here; a QEMU under KVM has opened all its KVM descriptors all the same.
      netns.addTap(taps.kvm);
      const kvm = QemuGuest.launch(image, spec('kvm', taps.kvm, 3, {}), 'kvm');
      guests.push(kvm);
      expect(await ask({ kind: 'stats.add', name: ['qemu', 'kvm'], pid: kvm.pid, taps: [taps.kvm] })).toMatchObject({ kind: 'success' });
      outcomes.push(await hypervisorOutcome('qemu.kvm', kvm));
      // Its guest may spin where it hung: the tests running beside this one need the core back.
      await kvm.kill();
    }
    for (const outcome of outcomes) console.info(`hypervisor counters: ${outcome}`);
  }, 60_000);

  /** Waits for counters of `vm` or the daemon's line about their absence; checks either; says which. */
  async function hypervisorOutcome(vm: string, guest: QemuGuest): Promise<string> {
    const none = () => daemon.logged('no hypervisor counters').filter((record) => record.vm === vm);
    const exits = (data: Data) => data.stats.vmm.values[data.stats.vmm.descriptions.indexOf('exits')];
    const first = await eventually(() => {
      const data = framesOf(vm).at(-1);
      return (data && exits(data) !== undefined) || none().length > 0 ? data! : undefined;
    }, 20_000, `hypervisor counters of ${vm} or the line saying there are none`);
    const what = `${vm} (QEMU under ${guest.accelerator.toUpperCase()}, pid ${guest.pid})`;
    if (none().length === 0) {
      const later = await frameAfter(vm, 2);
      if (guest.accelerator === 'kvm') expect(exits(later)!).toBeGreaterThan(exits(first)!);
      return `${what}: ${later.stats.vmm.descriptions.length} counters, exits ${exits(first)} then ${exits(later)}`;
    }
    await frameAfter(vm, 3);
    expect(none()).toHaveLength(1);
    expect(framesOf(vm).at(-1)!.stats.vmm.values).toEqual([]);
    return `${what}: none, and the daemon said why: ${String(none()[0]!.reason)}`;
  }

  it('unregisters a killed QEMU within one tick, and takes a new QEMU under its name', async () => {
    await frameAfter(VM);
    const seen = framesOf(VM).length;
    const killedAt = Date.now();
    await worker.kill();
    const exited = await eventually(() => daemon.logged('VM process exited').find((record) => record.vm === VM), 5000, 'the exit');
    expect(Number(exited.time) - killedAt).toBeLessThanOrEqual(INTERVAL_SECONDS * 1000 + 500);
    expect(framesOf(VM).length - seen).toBeLessThanOrEqual(1);
    expect((await metrics()).filter((sample) => sample.labels.vm === VM)).toEqual([]);

    expect(await ask({ kind: 'stats.add', name: NAME, pid: spare.pid, taps: [taps.spare] })).toMatchObject({ kind: 'success' });
    const replaced = await frameAfter(VM, 2);
    expect(replaced.stats.ifdata.map((ifdata) => ifdata.name)).toEqual([taps.spare]);
    const samples = await metrics();
    expect(sampleValue(samples, 'vmm_stats_tap_from_vm_packets_total', { vm: VM, interface: taps.spare })).toBeDefined();
    expect(sampleValue(samples, 'vmm_stats_tap_from_vm_packets_total', { vm: VM, interface: taps.worker })).toBeUndefined();
  }, 30_000);
});
