// A real Linux guest for real QEMU: Debian's cloud kernel (downloaded with apt-get and unpacked, never
// installed) and an initramfs of busybox-static whose init runs the workload the kernel command line
// names, then idles until killed. Built once and kept in the temporary directory, keyed by what went into
// it, so every test file and run after the first reuses it.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { findTool } from './prometheus.js';
import { tapUnavailableReason } from './net.js';

/** The kernel package: the meta-package's dependency names the exact one. */
const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
const BUSYBOX = '/bin/busybox';
/** What the guest needs to reach the host: the PCI transport and the NIC, each after its dependencies. */
const MODULES = ['virtio_pci', 'virtio_net'];

/**
 * The guest's /init. Its workload comes from the kernel command line (vmmstats.*); it reports each step on
 * the serial console as `vmm-stats-guest: STEP`, which is how the tests follow it.
 */
const INIT = `#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
say() { echo "vmm-stats-guest: $*"; }
option() {
  for word in $(cat /proc/cmdline); do
    case "$word" in "vmmstats.$1="*) echo "\${word#*=}" ;; esac
  done
}
for module in $(cat /modules/order); do insmod "/modules/$module.ko" || say "failed insmod $module"; done
while [ ! -e /sys/class/net/eth0 ]; do sleep 0.1; done
ip link set lo up
ip link set eth0 up
ip address add "$(option address)" dev eth0
say booted
pings=$(option pings)
if [ "\${pings:-0}" -gt 0 ]; then
  # The host decides when the counted pings start: by putting its address on the tap.
  until ping -c 1 -W 1 "$(option host)" >/dev/null 2>&1; do :; done
  say answered
  say "pinged $(ping -c "$pings" -A -q "$(option host)" | grep 'packets transmitted')"
fi
seconds=$(option cpu)
if [ "\${seconds:-0}" -gt 0 ]; then
  end=$(( $(date +%s) + seconds ))
  while [ "$(date +%s)" -lt "$end" ]; do :; done
  say burned
fi
silent=$(option silent)
if [ -n "$silent" ]; then
  # A neighbour that never answers: ARP requests from the guest, nothing back.
  ping -c 1 -W 2 "$silent" >/dev/null 2>&1
  say asked
fi
mebibytes=$(option touch)
if [ "\${mebibytes:-0}" -gt 0 ]; then
  dd if=/dev/zero of=/tmp/touched bs=1M count="$mebibytes" 2>/dev/null
  say touched
fi
say idle
while :; do sleep 3600; done
`;

export interface GuestImage {
  kernel: string;
  initrd: string;
}

export interface Workload {
  /** Pings of the host, sent one as soon as the last one's answer came back. */
  pings?: number;
  /** An address on the guest's subnet that nobody has: the guest asks for it (ARP) and gets no answer. */
  silentNeighbour?: string;
  cpuSeconds?: number;
  /** MiB of guest memory written once (a file in the guest's tmpfs, which keeps the pages). */
  touchMiB?: number;
}

export interface GuestNetwork {
  /** The guest's address, CIDR, on its tap's subnet. */
  guestAddress: string;
  /** The host's address on the tap, which the guest pings. */
  hostAddress: string;
}

/** The guest kernel's command line: a serial console, and the init's network and workload. */
export function guestCommandLine(network: GuestNetwork, workload: Workload): string {
  const options = {
    address: network.guestAddress, host: network.hostAddress, pings: workload.pings ?? 0,
    silent: workload.silentNeighbour ?? '', cpu: workload.cpuSeconds ?? 0, touch: workload.touchMiB ?? 0,
  };
  const init = Object.entries(options).filter(([, value]) => value !== '').map(([name, value]) => `vmmstats.${name}=${value}`);
  return ['console=ttyS0', 'quiet', 'panic=-1', 'ipv6.disable=1', ...init].join(' ');
}

/** Why a QEMU guest cannot be had here, or undefined when it can. */
export function guestUnavailableReason(): string | undefined {
  if (process.arch !== 'x64') return `the guest is x86-64 and this is ${process.arch}`;
  const noTap = tapUnavailableReason();
  if (noTap !== undefined) return noTap;
  const missing: [string, string][] = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['apt-get', 'apt'],
    ['dpkg-deb', 'dpkg'],
    ['modinfo', 'kmod'],
    ['curl', 'curl'],
    ['nsenter', 'util-linux'],
  ];
  for (const [tool, pkg] of missing) {
    if (findTool(tool) === undefined) return `no ${tool} on PATH (Debian package ${pkg})`;
  }
  if (!existsSync(BUSYBOX)) return `no ${BUSYBOX} (Debian package busybox-static)`;
  return undefined;
}

let building: Promise<GuestImage> | undefined;

/** The guest's kernel and initramfs, built on first use (and after the cache was removed). */
export function guestImage(): Promise<GuestImage> {
  building ??= Promise.resolve().then(buildGuestImage);
  return building;
}

function buildGuestImage(): GuestImage {
  const kernelPackage = exactKernelPackage();
  const key = createHash('sha256').update(kernelPackage).update(readFileSync(BUSYBOX)).update(INIT).update(MODULES.join())
    .digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `vmm-stats-guest-${key}`);
  const image = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.cpio') };
  if (existsSync(image.kernel) && existsSync(image.initrd)) return image;
  // Built aside and renamed into place, so that test files building at once never see half a guest.
  const scratch = `${dir}.${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    execFileSync('apt-get', ['download', '-q', kernelPackage], { cwd: scratch, stdio: 'pipe' });
    const deb = readdirSync(scratch).find((name) => name.endsWith('.deb'))!;
    const unpacked = join(scratch, 'package');
    execFileSync('dpkg-deb', ['-x', join(scratch, deb), unpacked]);
    const [version] = readdirSync(join(unpacked, 'lib', 'modules'));
    renameSync(join(unpacked, 'boot', `vmlinuz-${version}`), join(scratch, 'vmlinuz'));
    writeFileSync(join(scratch, 'initrd.cpio'), initramfs(join(unpacked, 'lib', 'modules', version!)));
    rmSync(unpacked, { recursive: true, force: true });
    rmSync(join(scratch, deb));
    try {
      renameSync(scratch, dir);
    } catch {
      // Another test file's build got there first; it is the same guest.
    }
    return image;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function exactKernelPackage(): string {
  const result = spawnSync('apt-cache', ['depends', '--important', KERNEL_META_PACKAGE], { encoding: 'utf8' });
  const match = /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(result.stdout ?? '');
  if (match === null) {
    throw new Error(`apt-cache knows no ${KERNEL_META_PACKAGE} (run apt-get update): ${result.stderr?.trim()}`);
  }
  return match[1]!;
}

/** The modules `wanted` need, from `modulesDir`, each after the ones it depends on. */
function modulesInLoadOrder(modulesDir: string, wanted: string[]): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.ko')) files.set(basename(entry.name, '.ko').replaceAll('-', '_'), join(dir, entry.name));
    }
  };
  walk(join(modulesDir, 'kernel'));
  const ordered = new Map<string, string>();
  const visit = (name: string) => {
    if (ordered.has(name)) return;
    const file = files.get(name);
    if (file === undefined) throw new Error(`the kernel package has no module ${name}`);
    const depends = execFileSync('modinfo', ['-F', 'depends', file], { encoding: 'utf8' }).trim();
    for (const dependency of depends.split(',').filter(Boolean)) visit(dependency);
    ordered.set(name, file);
  };
  for (const name of wanted) visit(name);
  return ordered;
}

function initramfs(modulesDir: string): Buffer {
  const modules = modulesInLoadOrder(modulesDir, MODULES);
  const archive = new Cpio();
  for (const dir of ['bin', 'dev', 'proc', 'sys', 'tmp', 'modules']) archive.directory(dir);
  archive.device('dev/console', 5, 1);
  archive.file('bin/busybox', readFileSync(BUSYBOX), 0o755);
  archive.symlink('bin/sh', 'busybox');
  archive.file('init', Buffer.from(INIT), 0o755);
  for (const [name, file] of modules) archive.file(`modules/${name}.ko`, readFileSync(file), 0o644);
  archive.file('modules/order', Buffer.from([...modules.keys()].join('\n') + '\n'), 0o644);
  return archive.finish();
}

/** The kernel's initramfs format: cpio "newc", every entry a header of hexadecimal fields, 4-byte aligned. */
class Cpio {
  readonly #parts: Buffer[] = [];
  #inode = 1;

  directory(name: string): void {
    this.#entry(name, 0o040755, Buffer.alloc(0));
  }

  file(name: string, data: Buffer, permissions: number): void {
    this.#entry(name, 0o100000 | permissions, data);
  }

  symlink(name: string, target: string): void {
    this.#entry(name, 0o120777, Buffer.from(target));
  }

  device(name: string, major: number, minor: number): void {
    this.#entry(name, 0o020600, Buffer.alloc(0), [major, minor]);
  }

  finish(): Buffer {
    this.#entry('TRAILER!!!', 0, Buffer.alloc(0));
    return Buffer.concat(this.#parts);
  }

  #entry(name: string, mode: number, data: Buffer, [rdevMajor, rdevMinor] = [0, 0]): void {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [this.#inode++, mode, 0, 0, 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
    const header = Buffer.from(`070701${fields.map((field) => field.toString(16).padStart(8, '0')).join('')}`);
    this.#parts.push(header, nameBytes, padding(header.length + nameBytes.length), data, padding(data.length));
  }
}

const padding = (length: number) => Buffer.alloc((4 - (length % 4)) % 4);
