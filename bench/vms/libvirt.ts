// libvirt as the bench runs it: libvirtd started by hand (there is no systemd here), with every directory
// it keeps state in bind-mounted from the run's temporary directory, in the mount namespace the bench runs
// in, so that nothing of the host's libvirt is touched or left behind; and transient domains booting the
// test guest directly from its kernel, each with an ethernet interface on a tap made beforehand.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, closeSync, cpSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestCommandLine, type GuestImage, type GuestNetwork, type Workload } from '../../test/helpers/guest.js';
import type { Cleanup } from '../scale/cleanup.js';

const URI = 'qemu:///system';
/** Where libvirtd keeps what it keeps. */
const STATE_DIRS = ['/run/libvirt', '/etc/libvirt', '/var/lib/libvirt', '/var/log/libvirt', '/var/cache/libvirt'];
/**
 * QEMU as root with no relabelling and no cgroups (none of which this bench measures), and its console in a
 * plain file rather than through virtlogd, another daemon to start.
 */
const QEMU_CONF = `
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
`;

export interface Libvirt {
  pid: number;
  virsh(...args: string[]): string;
}

export interface DomainSpec extends GuestNetwork {
  name: string;
  tap: string;
  workload: Workload;
  console: string;
  accelerator: 'kvm' | 'tcg';
}

/** Binds a private copy of libvirt's directories over them; the mount namespace must be the bench's own. */
function privateState(dir: string): void {
  for (const target of STATE_DIRS) {
    const source = join(dir, 'libvirt', target.replaceAll('/', '_'));
    if (target === '/etc/libvirt') cpSync(target, source, { recursive: true });
    else mkdirSync(source, { recursive: true });
    mkdirSync(target, { recursive: true });
    execFileSync('mount', ['--bind', source, target]);
  }
  // No default network: it would want dnsmasq and a bridge.
  rmSync('/etc/libvirt/qemu/networks/autostart', { recursive: true, force: true });
  appendFileSync('/etc/libvirt/qemu.conf', QEMU_CONF);
}

export async function startLibvirt(dir: string, cleanup: Cleanup): Promise<Libvirt> {
  privateState(dir);
  const log = openSync(join(dir, 'libvirtd.log'), 'a');
  const child = spawn('libvirtd', [], { stdio: ['ignore', log, log] });
  closeSync(log);
  await once(child, 'spawn');
  cleanup.defer('stopping libvirtd', async () => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
  const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', URI, ...args], { encoding: 'utf8', stdio: 'pipe' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      virsh('version');
      return { pid: child.pid!, virsh };
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`libvirtd did not come up: ${(err as Error).message}\n${readFileSync(join(dir, 'libvirtd.log'), 'utf8').slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function domainXml(image: GuestImage, spec: DomainSpec): string {
  return `<domain type='${spec.accelerator === 'kvm' ? 'kvm' : 'qemu'}'>
  <name>${spec.name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${image.kernel}</kernel>
    <initrd>${image.initrd}</initrd>
    <cmdline>${guestCommandLine(spec, spec.workload)}</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='ethernet'><target dev='${spec.tap}' managed='no'/><model type='virtio'/></interface>
    <serial type='file'><source path='${spec.console}'/></serial>
  </devices>
</domain>
`;
}

/** A transient domain (gone once destroyed); resolves with its QEMU's pid. */
export function createDomain(libvirt: Libvirt, image: GuestImage, spec: DomainSpec, dir: string, cleanup: Cleanup): number {
  const xml = join(dir, `${spec.name}.xml`);
  writeFileSync(xml, domainXml(image, spec));
  libvirt.virsh('create', xml);
  cleanup.defer(`destroying ${spec.name}`, () => void libvirt.virsh('destroy', spec.name));
  return Number(readFileSync(`/run/libvirt/qemu/${spec.name}.pid`, 'utf8').trim());
}
