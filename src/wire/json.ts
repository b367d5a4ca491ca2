// Messages as JSON in the conventions of the test vectors and of the seed's oracle: u64 values are decimal
// strings, ints and u32 are numbers, `ts` is {"d", "ps"}, a VM image is hex. Keys come in the oracle's order,
// so that `wire decode` prints what the oracle prints.

import { vmLabels } from '../vm/vm.js';
import { WireError } from './errors.js';
import { EXIT_STATUSES } from './log.js';
import { IFDATA_LAYOUT, RUSAGE_LAYOUT, type LayoutField } from './layouts.js';
import type { Frame, Header, IfData, LogEvent, Message, Ptime, Rusage, Stats, VmConfig, VmInfo, VmmCounter } from './messages.js';
import { vmmCounters, vmmPairs } from './vmm-section.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

// ---------- to JSON ----------

/** A decoded frame as the oracle prints it, without its leading "ok": {kind, header, ...fields}. */
export function frameToJson(frame: Frame): JsonObject {
  return { kind: frame.message.kind, header: headerToJson(frame.header), ...fieldsToJson(frame.message) };
}

/** A message in the vectors' schema: {kind, id, ...fields}. */
export function messageToJson(message: Message): JsonObject {
  return { kind: message.kind, id: message.id.toString(), ...fieldsToJson(message) };
}

function headerToJson(header: Header): JsonObject {
  return { tag: header.tag, version: header.version, id: header.id.toString(), length: header.length };
}

function fieldsToJson(message: Message): JsonObject {
  switch (message.kind) {
    case 'success':
      return { tag: message.tag, msg: message.msg };
    case 'fail':
      return { msg: message.msg };
    case 'console.add':
    case 'console.attach':
    case 'stats.remove':
    case 'stats.subscribe':
    case 'log.subscribe':
    case 'vm.destroy':
    case 'vm.info':
      return { name: message.name };
    case 'console.data':
      return { name: message.name, ts: ptimeToJson(message.ts), msg: message.msg };
    case 'stats.add':
      return { name: message.name, pid: message.pid, taps: message.taps };
    case 'stats.data':
      return { name: message.name, stats: statsToJson(message.stats) };
    case 'log.log':
      return { name: message.name, ts: ptimeToJson(message.ts), event: eventToJson(message.event) };
    case 'vm.create':
      return { name: message.name, config: configToJson(message.config) };
    case 'vm.info_reply':
      return { vms: message.vms.map(vmInfoToJson) };
  }
}

function ptimeToJson(ts: Ptime): JsonObject {
  return { d: ts.d, ps: ts.ps.toString() };
}

function statsToJson(stats: Stats): JsonObject {
  return {
    rusage: recordToJson(RUSAGE_LAYOUT, stats.rusage),
    vmm: vmmPairs(stats.vmm).map(([description, value]) => [description, value.toString()]),
    ifdata: stats.ifdata.map((i) => ({ name: i.name, ...recordToJson(IFDATA_LAYOUT, i) })),
  };
}

/** A record of a layout (layouts.ts), its fields in the layout's order: u64s as decimal strings. */
function recordToJson(layout: readonly LayoutField[], record: object): JsonObject {
  const values = record as Record<string, unknown>;
  const json: JsonObject = {};
  for (const { key, kind } of layout) {
    const value = values[key];
    if (kind === 'timeval') {
      const { sec, usec } = value as { sec: bigint; usec: number };
      json[key] = { sec: sec.toString(), usec };
    } else {
      json[key] = kind === 'u64' ? (value as bigint).toString() : (value as number);
    }
  }
  return json;
}

function eventToJson(event: LogEvent): JsonObject {
  switch (event.type) {
    case 'startup':
      return { type: event.type };
    case 'login':
    case 'logout':
      return { type: event.type, ip: event.ip, port: event.port };
    case 'vm_start':
      return { type: event.type, pid: event.pid, taps: event.taps, block: event.block };
    case 'vm_stop':
      return { type: event.type, pid: event.pid, status: event.status, code: event.code };
  }
}

function configToJson(c: VmConfig): JsonObject {
  return {
    cpuid: c.cpuid,
    memory: c.memory,
    block: c.block,
    network: c.network,
    vmtype: c.vmtype,
    image: Buffer.from(c.image.buffer, c.image.byteOffset, c.image.byteLength).toString('hex'),
    argv: c.argv,
  };
}

function vmInfoToJson(vm: VmInfo): JsonObject {
  return { name: vm.name, memory: vm.memory, cmd: vm.cmd, pid: vm.pid, taps: vm.taps };
}

/**
 * One line of JSON text, escaped as the oracle escapes: JSON.stringify writes \b and \f where the oracle
 * writes \u0008 and \u000c. Pairs of backslashes are matched first, so an escaped backslash followed by a
 * letter is left alone.
 */
export function jsonLine(value: Json): string {
  return JSON.stringify(value).replace(/\\([\\bf])/g, (escape, letter: string) =>
    letter === 'b' ? '\\u0008' : letter === 'f' ? '\\u000c' : escape,
  );
}

// ---------- from JSON ----------

/** A message from the vectors' schema (`hex` and other unknown keys are ignored). Throws WireError('bad_json'). */
export function messageFromJson(json: unknown): Message {
  const o = Fields.of(json, 'message');
  const kind = o.string('kind');
  const id = o.has('id') ? o.u64('id') : 0n;
  switch (kind) {
    case 'success':
      return { kind, id, tag: o.u32('tag'), msg: o.optionalString('msg') };
    case 'fail':
      return { kind, id, msg: o.optionalString('msg') };
    case 'console.add':
    case 'console.attach':
    case 'stats.remove':
    case 'stats.subscribe':
    case 'log.subscribe':
    case 'vm.destroy':
    case 'vm.info':
      return { kind, id, name: o.strings('name') };
    case 'console.data':
      return { kind, id, name: o.strings('name'), ts: ptimeFromJson(o.object('ts')), msg: o.string('msg') };
    case 'stats.add':
      return { kind, id, name: o.strings('name'), pid: o.int('pid'), taps: o.strings('taps') };
    case 'stats.data': {
      // The seed's Stats.data takes the name as one dotted string; the vectors give both forms.
      const name = o.has('name') ? o.strings('name') : vmLabels(o.string('vm'));
      return { kind, id, name, stats: statsFromJson(o.object('stats')) };
    }
    case 'log.log':
      return { kind, id, name: o.strings('name'), ts: ptimeFromJson(o.object('ts')), event: eventFromJson(o.object('event')) };
    case 'vm.create':
      return { kind, id, name: o.strings('name'), config: configFromJson(o.object('config')) };
    case 'vm.info_reply':
      return { kind, id, vms: o.objects('vms').map(vmInfoFromJson) };
    default:
      throw new WireError('bad_json', `message.kind: unknown kind ${JSON.stringify(kind)}`);
  }
}

function ptimeFromJson(o: Fields): Ptime {
  return { d: o.int('d'), ps: o.u64('ps') };
}

function statsFromJson(o: Fields): Stats {
  const rusage = recordFromJson(RUSAGE_LAYOUT, o.object('rusage')) as Rusage;
  const pairs = o.array('vmm').map((entry, index): VmmCounter => {
    const path = `${o.path}.vmm[${index}]`;
    if (!Array.isArray(entry) || entry.length !== 2) throw new WireError('bad_json', `${path}: expected a [description, value] pair`);
    const pair = Fields.of({ description: entry[0], value: entry[1] }, path);
    return [pair.string('description'), pair.u64('value')];
  });
  const ifdata = o.objects('ifdata').map((i) => ({ name: i.string('name'), ...recordFromJson(IFDATA_LAYOUT, i) }) as IfData);
  return { rusage, vmm: vmmCounters(pairs), ifdata };
}

function recordFromJson(layout: readonly LayoutField[], o: Fields): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const { key, kind } of layout) {
    if (kind === 'timeval') {
      const tv = o.object(key);
      record[key] = { sec: tv.u64('sec'), usec: tv.int('usec') };
    } else {
      record[key] = kind === 'u64' ? o.u64(key) : kind === 'u32' ? o.u32(key) : o.int(key);
    }
  }
  return record;
}

function eventFromJson(o: Fields): LogEvent {
  const type = o.string('type');
  switch (type) {
    case 'startup':
      return { type };
    case 'login':
    case 'logout':
      return { type, ip: o.string('ip'), port: o.int('port') };
    case 'vm_start':
      return { type, pid: o.int('pid'), block: o.optionalString('block'), taps: o.strings('taps') };
    case 'vm_stop':
      return { type, pid: o.int('pid'), status: o.oneOf('status', EXIT_STATUSES), code: o.int('code') };
    default:
      throw o.error(`unknown event type ${JSON.stringify(type)}`);
  }
}

function configFromJson(o: Fields): VmConfig {
  const image = o.string('image');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(image)) throw o.error('image is not hex');
  return {
    cpuid: o.int('cpuid'),
    memory: o.int('memory'),
    block: o.optionalString('block'),
    network: o.strings('network'),
    vmtype: o.int('vmtype'),
    image: Buffer.from(image, 'hex'),
    argv: o.has('argv') && o.get('argv') !== null ? o.strings('argv') : null,
  };
}

function vmInfoFromJson(o: Fields): VmInfo {
  return { name: o.strings('name'), memory: o.int('memory'), cmd: o.string('cmd'), pid: o.int('pid'), taps: o.strings('taps') };
}

/** Typed access to one JSON object's fields; every mismatch is a WireError naming the field's path. */
class Fields {
  private constructor(
    private readonly value: Record<string, unknown>,
    readonly path: string,
  ) {}

  static of(value: unknown, path: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new WireError('bad_json', `${path}: expected an object`);
    }
    return new Fields(value as Record<string, unknown>, path);
  }

  error(problem: string): WireError {
    return new WireError('bad_json', `${this.path}: ${problem}`);
  }

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  get(key: string): unknown {
    return this.value[key];
  }

  private fail(key: string, expected: string): never {
    throw new WireError('bad_json', `${this.path}.${key}: expected ${expected}, got ${JSON.stringify(this.value[key]) ?? 'nothing'}`);
  }

  string(key: string): string {
    const value = this.value[key];
    return typeof value === 'string' ? value : this.fail(key, 'a string');
  }

  oneOf<T extends string>(key: string, choices: readonly T[]): T {
    const value = this.string(key);
    return (choices as readonly string[]).includes(value) ? (value as T) : this.fail(key, `one of ${choices.join(', ')}`);
  }

  /** null, absent or a string. */
  optionalString(key: string): string | null {
    const value = this.value[key];
    return value === null || value === undefined ? null : this.string(key);
  }

  strings(key: string): string[] {
    const value = this.value[key];
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : this.fail(key, 'a list of strings');
  }

  /** An integer; whether it fits the wire's int (a safe integer) is the encoder's to judge. */
  int(key: string): number {
    const value = this.value[key];
    return Number.isInteger(value) ? (value as number) : this.fail(key, 'an integer');
  }

  u32(key: string): number {
    const value = this.int(key);
    return value >= 0 && value <= 0xffffffff ? value : this.fail(key, 'a u32');
  }

  /** A decimal string (the vectors' convention) or a non-negative safe integer. */
  u64(key: string): bigint {
    const value = this.value[key];
    if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return BigInt(value);
    if (Number.isSafeInteger(value) && (value as number) >= 0) return BigInt(value as number);
    return this.fail(key, 'a u64 as a decimal string');
  }

  object(key: string): Fields {
    return Fields.of(this.value[key], `${this.path}.${key}`);
  }

  array(key: string): unknown[] {
    const value = this.value[key];
    return Array.isArray(value) ? value : this.fail(key, 'a list');
  }

  objects(key: string): Fields[] {
    return this.array(key).map((item, index) => Fields.of(item, `${this.path}.${key}[${index}]`));
  }
}
