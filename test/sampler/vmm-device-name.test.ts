// The /dev/vmm device a VM registered over the wire is read from, chosen among the names that exist in a
// directory laid out here as /dev/vmm would be.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chooseVmmDevice, VmmDeviceNames, vmmDeviceCandidates } from '../../src/sampler/vmm-device-name.js';

const vm = (name: string, pid = 4242) => ({ name, labels: name.split('.'), pid });

describe('vmmDeviceCandidates', () => {
  it('tries solo5-<pid>, then the last label, then the full dotted name', () => {
    expect(vmmDeviceCandidates(vm('tenant.web'))).toEqual(['solo5-4242', 'web', 'tenant.web']);
  });

  it('tries a one-label name once', () => {
    expect(vmmDeviceCandidates(vm('web'))).toEqual(['solo5-4242', 'web']);
  });
});

describe('chooseVmmDevice', () => {
  const candidates = vmmDeviceCandidates(vm('tenant.web'));

  it('takes the first candidate that exists', () => {
    expect(chooseVmmDevice(candidates, new Set(['tenant.web', 'web', 'solo5-4242']))).toBe('solo5-4242');
    expect(chooseVmmDevice(candidates, new Set(['tenant.web', 'web', 'other']))).toBe('web');
    expect(chooseVmmDevice(candidates, new Set(['tenant.web', 'solo5-1']))).toBe('tenant.web');
  });

  it('takes none when none exists', () => {
    expect(chooseVmmDevice(candidates, new Set(['solo5-1', 'db']))).toBeUndefined();
  });
});

describe('VmmDeviceNames', () => {
  let directory: string;
  let logged: Record<string, unknown>[];
  const logger = () => pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) });
  const device = (name: string) => writeFileSync(join(directory, name), '');
  const choices = () => logged.filter((line) => line.msg === 'hypervisor counters device chosen');

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'vmm-stats-dev-vmm-'));
    logged = [];
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('gives no name while no candidate exists, and then the one that appeared', () => {
    const names = new VmmDeviceNames(logger(), directory);
    const web = vm('tenant.web');
    device('db');
    expect(names.for(web)).toBeUndefined();
    device('tenant.web');
    expect(names.for(web)).toBe('tenant.web');
  });

  it('logs the choice once, and keeps it for the VM', () => {
    const names = new VmmDeviceNames(logger(), directory);
    const web = vm('tenant.web');
    device('web');
    expect(names.for(web)).toBe('web');
    device('solo5-4242');
    expect(names.for(web)).toBe('web');
    expect(names.for(web)).toBe('web');
    expect(choices()).toEqual([
      expect.objectContaining({ vm: 'tenant.web', pid: 4242, device: join(directory, 'web'), tried: ['solo5-4242', 'web', 'tenant.web'] }),
    ]);
  });

  it('chooses for each VM on its own', () => {
    const names = new VmmDeviceNames(logger(), directory);
    device('solo5-7');
    device('db');
    expect(names.for(vm('tenant.web', 7))).toBe('solo5-7');
    expect(names.for(vm('tenant.db', 8))).toBe('db');
    expect(choices().map((line) => line.device)).toEqual([join(directory, 'solo5-7'), join(directory, 'db')]);
  });

  it('never leads out of the directory: ".." is not among the names a listing gives', () => {
    const names = new VmmDeviceNames(logger(), join(directory, 'vmm'));
    mkdirSync(join(directory, 'vmm'));
    const escaping = { name: 'tenant...', labels: ['tenant', '..'], pid: 4242 };
    expect(vmmDeviceCandidates(escaping)).toContain('..');
    expect(names.for(escaping)).toBeUndefined();
  });

  it('gives no name while the directory is missing (vmm(4) not loaded)', () => {
    expect(new VmmDeviceNames(logger(), join(directory, 'absent')).for(vm('web'))).toBeUndefined();
    expect(choices()).toEqual([]);
  });

  it.skipIf(process.platform === 'freebsd')('gives no name off FreeBSD, where a VM is found by its pid', () => {
    device('web');
    expect(new VmmDeviceNames(logger()).for(vm('web'))).toBeUndefined();
  });
});
