// Rows of top's model for the tests of its fields and its screen.
import type { VmRow } from '../../src/top/model.js';

export function row(name: string, values: Partial<Omit<VmRow, 'name'>> = {}): VmRow {
  return { name, cpuPercent: 0, maxrssMiB: 0, traffic: undefined, taps: 0, exitsPerSecond: undefined, ...values };
}

/** Traffic of 100-byte packets in, and of `outPacketBytes`-byte packets out. */
export function traffic(bytesIn: number, bytesOut: number, outPacketBytes = 100) {
  return { packetsIn: bytesIn / 100, packetsOut: bytesOut / outPacketBytes, bytesIn, bytesOut };
}
