// Whether vmm-stats and libvirt say the same about each guest: its QEMU's CPU time, and its tap's bytes and
// packets. libvirt names an interface's directions from the guest's side (its rx is what the guest
// received), we from the VM's: libvirt's receive is our to_vm, its transmit our from_vm.
import { parseExposition, sampleValue, type ExpositionSample } from '../../test/helpers/exposition.js';
import type { Scraper } from '../scale/scrape.js';

export interface BenchGuest {
  domain: string;
  /** Its name with our daemon. */
  vm: string;
  tap: string;
  pid: number;
}

/** CPU within this share of libvirt's is agreement: ours is read by the last tick, up to an interval ago. */
export const CPU_TOLERANCE = 0.02;

export interface Pair {
  ours: number;
  theirs: number;
}

export interface Agreement {
  guest: string;
  cpuSeconds: Pair;
  fromVmBytes: Pair;
  toVmBytes: Pair;
  fromVmPackets: Pair;
  toVmPackets: Pair;
  agrees: boolean;
}

function value(samples: ExpositionSample[], name: string, labels: Record<string, string>): number {
  const found = sampleValue(samples, name, labels);
  if (found === undefined) throw new Error(`no ${name}{${JSON.stringify(labels)}} in the scrape`);
  return found;
}

function compare(guest: BenchGuest, ours: ExpositionSample[], theirs: ExpositionSample[]): Agreement {
  const vm = { vm: guest.vm };
  const tap = { vm: guest.vm, interface: guest.tap };
  const domain = { domain: guest.domain };
  const nic = { domain: guest.domain, target_device: guest.tap };
  const ourCpu = value(ours, 'vmm_stats_vm_cpu_user_seconds_total', vm) + value(ours, 'vmm_stats_vm_cpu_system_seconds_total', vm);
  const pair = (our: string, their: string): Pair => ({ ours: value(ours, our, tap), theirs: value(theirs, their, nic) });
  const row = {
    guest: guest.domain,
    cpuSeconds: { ours: ourCpu, theirs: value(theirs, 'libvirt_domain_info_cpu_time_seconds_total', domain) },
    fromVmBytes: pair('vmm_stats_tap_from_vm_bytes_total', 'libvirt_domain_interface_stats_transmit_bytes_total'),
    toVmBytes: pair('vmm_stats_tap_to_vm_bytes_total', 'libvirt_domain_interface_stats_receive_bytes_total'),
    fromVmPackets: pair('vmm_stats_tap_from_vm_packets_total', 'libvirt_domain_interface_stats_transmit_packets_total'),
    toVmPackets: pair('vmm_stats_tap_to_vm_packets_total', 'libvirt_domain_interface_stats_receive_packets_total'),
  };
  const counters = [row.fromVmBytes, row.toVmBytes, row.fromVmPackets, row.toVmPackets];
  const cpuAgrees = Math.abs(row.cpuSeconds.ours - row.cpuSeconds.theirs) <= CPU_TOLERANCE * row.cpuSeconds.theirs;
  return { ...row, agrees: cpuAgrees && counters.every((p) => p.ours === p.theirs) };
}

/** Both endpoints scraped at once, every guest compared. */
export async function readAgreement(guests: BenchGuest[], ours: Scraper, theirs: Scraper): Promise<Agreement[]> {
  const [ourText, theirText] = await Promise.all([ours.text(), theirs.text()]);
  const [ourSamples, theirSamples] = [parseExposition(ourText), parseExposition(theirText)];
  return guests.map((guest) => compare(guest, ourSamples, theirSamples));
}
