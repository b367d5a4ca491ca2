// The --influx URL forms and the point buffer's bound.
import { describe, expect, it } from 'vitest';
import { PointBuffer } from '../../src/influx/point-buffer.js';
import { parseInfluxUrl } from '../../src/influx/target.js';

describe('parseInfluxUrl', () => {
  it('takes the three forms', () => {
    expect(parseInfluxUrl('tcp://127.0.0.1:8094')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 8094 });
    expect(parseInfluxUrl('tcp://[::1]:8094/')).toEqual({ kind: 'tcp', host: '::1', port: 8094 });
    expect(parseInfluxUrl('tcp://influx.example.net:8094')).toEqual({ kind: 'tcp', host: 'influx.example.net', port: 8094 });
    expect(parseInfluxUrl('http://127.0.0.1:8086/write?db=vmm&rp=week')).toMatchObject({ kind: 'http', api: '1.x' });
    expect(parseInfluxUrl('https://influx.example.net/write?db=vmm')).toMatchObject({ kind: 'http', api: '1.x' });
    const v2 = parseInfluxUrl('https://influx.example.net:8086/api/v2/write?org=acme&bucket=vms');
    expect(v2).toMatchObject({ kind: 'http', api: '2.x' });
    expect(v2.kind === 'http' && v2.url.href).toBe('https://influx.example.net:8086/api/v2/write?org=acme&bucket=vms');
  });

  it.each([
    ['influx:8086', /'influx:8086' names no scheme/],
    ['not a url', /names no scheme/],
    ['http://', /is not a URL/],
    ['udp://127.0.0.1:8089', /udp:\/\/ is not a scheme/],
    ['tcp://127.0.0.1', /names no port/],
    ['tcp://127.0.0.1:8094/write?db=x', /host and port only/],
    ['http://127.0.0.1:8086/', /neither InfluxDB's \/write nor its \/api\/v2\/write/],
    ['http://127.0.0.1:8086/write', /needs db=/],
    ['http://127.0.0.1:8086/write?db=', /needs db=/],
    ['http://127.0.0.1:8086/api/v2/write?org=acme', /needs bucket=/],
    ['http://127.0.0.1:8086/api/v2/write', /needs org= and bucket=/],
    ['http://admin:secret@127.0.0.1:8086/write?db=x', /--token-file/],
    ['http://127.0.0.1:8086/write?db=x&u=admin&p=secret', /--token-file/],
    ['http://127.0.0.1:8086/write?db=x&precision=s', /nanosecond timestamps/],
  ])('refuses %s, saying why and what would do', (text, why) => {
    expect(() => parseInfluxUrl(text)).toThrow(why);
    expect(() => parseInfluxUrl(text)).toThrow(/the forms: tcp:\/\/HOST:PORT, .*\/write\?db=DB .*\/api\/v2\/write\?org=ORG&bucket=BUCKET/);
  });
});

describe('PointBuffer', () => {
  it('keeps the newest points within its capacity, and counts the oldest it drops', () => {
    const buffer = new PointBuffer(3);
    buffer.push(['a', 'b']);
    buffer.push(['c', 'd', 'e']);
    expect([buffer.size, buffer.dropped]).toEqual([3, 2]);
    expect(buffer.take(10)).toEqual(['c', 'd', 'e']);
  });

  it('counts a batch being sent within its capacity, and puts an undelivered one back in front', () => {
    const buffer = new PointBuffer(4);
    buffer.push(['a', 'b', 'c']);
    const batch = buffer.take(2);
    expect(batch).toEqual(['a', 'b']);
    buffer.push(['d', 'e']);
    // a, b out; c, d, e held: one too many, and the oldest held goes.
    expect([buffer.size, buffer.dropped]).toEqual([2, 1]);
    buffer.giveBack(batch);
    expect(buffer.take(10)).toEqual(['a', 'b', 'd', 'e']);
    buffer.sent();
    expect(buffer.size).toBe(0);
  });

  it('trims what is given back when the buffer filled meanwhile', () => {
    const buffer = new PointBuffer(3);
    buffer.push(['a', 'b']);
    const batch = buffer.take(2);
    buffer.push(['c']);
    buffer.giveBack(batch);
    buffer.push(['d']);
    expect([buffer.take(10), buffer.dropped]).toEqual([['b', 'c', 'd'], 1]);
  });

  it('stays bounded over many pushes, and refuses a capacity below one', () => {
    const buffer = new PointBuffer(1000);
    for (let i = 0; i < 100_000; i++) buffer.push([`p${i}`]);
    expect([buffer.size, buffer.dropped]).toEqual([1000, 99_000]);
    expect(buffer.take(1)).toEqual(['p99000']);
    expect(() => new PointBuffer(0)).toThrow(RangeError);
  });
});
