import { describe, expect, it } from 'vitest';
import { parseEndTime } from '../../src/top/end-time.js';

// Local times: the tests hold whatever the machine's zone is, as top's users' do.
const NOW = new Date(2026, 11, 2, 10, 30, 0);

describe('--end-time', () => {
  it('takes ISO 8601 timestamps, with a zone or in local time', () => {
    expect(parseEndTime('2030-01-02T03:04:05Z', NOW).toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(parseEndTime('2030-01-02T03:04:05.5+02:00', NOW).toISOString()).toBe('2030-01-02T01:04:05.500Z');
    expect(parseEndTime('2030-01-02T03:04-0130', NOW).toISOString()).toBe('2030-01-02T04:34:00.000Z');
    expect(parseEndTime('2030-01-02 03:04:05', NOW).getTime()).toBe(new Date(2030, 0, 2, 3, 4, 5).getTime());
  });

  it('takes a time of day as the next one to come, as virt-top does: today, or tomorrow once passed', () => {
    expect(parseEndTime('11:00', NOW).getTime()).toBe(new Date(2026, 11, 2, 11, 0, 0).getTime());
    expect(parseEndTime('10:30:30', NOW).getTime()).toBe(new Date(2026, 11, 2, 10, 30, 30).getTime());
    expect(parseEndTime('09:15', NOW).getTime()).toBe(new Date(2026, 11, 3, 9, 15, 0).getTime());
    expect(parseEndTime('10:30', NOW).getTime()).toBe(new Date(2026, 11, 3, 10, 30, 0).getTime());
  });

  it('takes a time from now: +SECONDS or +HH:MM:SS', () => {
    expect(parseEndTime('+90', NOW).getTime() - NOW.getTime()).toBe(90_000);
    expect(parseEndTime('+0.5', NOW).getTime() - NOW.getTime()).toBe(500);
    expect(parseEndTime('+01:30:00', NOW).getTime() - NOW.getTime()).toBe(5_400_000);
  });

  it('refuses what is no time, no such time, or a time that has passed, saying what it takes', () => {
    expect(() => parseEndTime('soon', NOW)).toThrow(/^'soon': give an ISO 8601 timestamp \(2026-12-02T08:00:00Z; .*a time of day .*a time from now/);
    expect(() => parseEndTime('2030-02-30T00:00:00Z', NOW)).toThrow("'2030-02-30T00:00:00Z': no such date or time");
    expect(() => parseEndTime('2030-01-01T24:00:00', NOW)).toThrow(/no such date or time/);
    expect(() => parseEndTime('2030-01-01T00:00:00+25:00', NOW)).toThrow(/zone offset \+25:00 is out of range/);
    expect(() => parseEndTime('25:00', NOW)).toThrow("'25:00': no such time of day");
    expect(() => parseEndTime('+0', NOW)).toThrow(/more than 0/);
    expect(() => parseEndTime('+00:61:00', NOW)).toThrow(/up to 59/);
    expect(() => parseEndTime('2020-01-01T00:00:00Z', NOW)).toThrow("'2020-01-01T00:00:00Z' is 2020-01-01T00:00:00.000Z, which has passed");
  });
});
