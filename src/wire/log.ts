// The Log channel: subscribing, and log entries (a VM name, a timestamp and one of five events).

import type { Reader } from './buffer-reader.js';
import type { Writer } from './buffer-writer.js';
import { nameOnly, type Codec } from './codec.js';
import { WireError } from './errors.js';
import type { LogEvent } from './messages.js';
import { Tag } from './tags.js';

const EventType = { startup: 0, login: 1, logout: 2, vm_start: 3, vm_stop: 4 } as const;
/** How a VM process ended, in the wire's numbering (the index). */
export const EXIT_STATUSES = ['exit', 'signal', 'stop'] as const;

function writeEvent(w: Writer, event: LogEvent): void {
  const type = EventType[event.type];
  if (type === undefined) throw new WireError('unknown_event', `unknown log event type ${JSON.stringify(event.type)}`);
  w.u16(type);
  switch (event.type) {
    case 'startup':
      return;
    case 'login':
    case 'logout':
      w.u32(ipv4ToU32(event.ip));
      w.u16(event.port);
      return;
    case 'vm_start':
      // The seed's order: pid, block, taps.
      w.int(event.pid);
      w.string(event.block ?? '');
      w.strings(event.taps);
      return;
    case 'vm_stop': {
      const status = EXIT_STATUSES.indexOf(event.status);
      if (status < 0) throw new WireError('bad_exit_status', `unknown exit status ${JSON.stringify(event.status)}`);
      w.int(event.pid);
      w.int(status);
      w.int(event.code);
      return;
    }
  }
}

function readEvent(r: Reader): LogEvent {
  const type = r.u16();
  switch (type) {
    case EventType.startup:
      return { type: 'startup' };
    case EventType.login:
      return { type: 'login', ip: u32ToIpv4(r.u32()), port: r.u16() };
    case EventType.logout:
      return { type: 'logout', ip: u32ToIpv4(r.u32()), port: r.u16() };
    case EventType.vm_start: {
      const pid = r.int();
      const block = r.string();
      return { type: 'vm_start', pid, block: block === '' ? null : block, taps: r.strings() };
    }
    case EventType.vm_stop: {
      // The seed checks all 24 bytes before judging any of them.
      const at = r.take(24, 'a vm_stop event');
      const pid = r.intAt(at);
      const status = EXIT_STATUSES[r.intAt(at + 8)];
      const code = r.intAt(at + 16);
      if (status === undefined) {
        throw new WireError('bad_exit_status', `exit status ${r.intAt(at + 8)} at offset ${at + 8} is not 0, 1 or 2`);
      }
      return { type: 'vm_stop', pid, status, code };
    }
    default:
      throw new WireError('unknown_event', `unknown log event type ${type}`);
  }
}

function ipv4ToU32(ip: string): number {
  const parts = typeof ip === 'string' ? ip.split('.') : [];
  const bytes = parts.map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : NaN));
  if (bytes.length !== 4 || bytes.some((byte) => !(byte <= 255))) {
    throw new WireError('bad_value', `not an IPv4 address: ${JSON.stringify(ip)}`);
  }
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

function u32ToIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

const log: Codec<'log.log'> = {
  kind: 'log.log',
  tag: Tag.LogLog,
  write(w, message) {
    w.strings(message.name);
    w.ptime(message.ts);
    writeEvent(w, message.event);
  },
  read(r, header) {
    // Property initialisers run in source order, which is the wire order.
    return { kind: 'log.log', id: header.id, name: r.strings(), ts: r.ptime(), event: readEvent(r) };
  },
};

export const logCodecs = [log, nameOnly('log.subscribe', Tag.LogSubscribe)] as const;
