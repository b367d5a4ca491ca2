// `vmm-stats top --end-time TIME`: when to stop, given as virt-top takes it (a time of day, or a number of
// seconds from now) or as an ISO 8601 timestamp.

const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const TIME_OF_DAY = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/;
const FROM_NOW = /^\+(?:(\d+(?:\.\d+)?)|(\d+):(\d{2}):(\d{2}))$/;

const FORMATS =
  'an ISO 8601 timestamp (2026-12-02T08:00:00Z; without a zone, local time), a time of day (08:00 or 08:00:30, ' +
  'the next one to come), or a time from now (+90 seconds, +01:30:00)';

interface Parts {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
  milliseconds: number;
}

function partsOf(date: Date, utc: boolean): Parts {
  return utc
    ? { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hours: date.getUTCHours(), minutes: date.getUTCMinutes(), seconds: date.getUTCSeconds(), milliseconds: date.getUTCMilliseconds() }
    : { year: date.getFullYear(), month: date.getMonth() + 1, day: date.getDate(), hours: date.getHours(), minutes: date.getMinutes(), seconds: date.getSeconds(), milliseconds: date.getMilliseconds() };
}

/** Minutes east of UTC of a zone designator: Z, +02:00, -0530. */
function offsetMinutes(zone: string): number {
  if (zone.toUpperCase() === 'Z') return 0;
  const [hours, minutes] = [Number(zone.slice(1, 3)), Number(zone.slice(-2))];
  if (hours > 23 || minutes > 59) throw new Error(`the zone offset ${zone} is out of range`);
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** A date from its parts, or an error when they name no such time (2026-02-30, 24:00). */
function dateOf(parts: Parts, zone: string | undefined): Date {
  const { year, month, day, hours, minutes, seconds, milliseconds } = parts;
  const date =
    zone === undefined
      ? new Date(year, month - 1, day, hours, minutes, seconds, milliseconds)
      : new Date(Date.UTC(year, month - 1, day, hours, minutes, seconds, milliseconds) - offsetMinutes(zone) * 60_000);
  const back = zone === undefined ? partsOf(date, false) : partsOf(new Date(Date.UTC(year, month - 1, day, hours, minutes, seconds, milliseconds)), true);
  const same = (Object.keys(parts) as (keyof Parts)[]).every((key) => parts[key] === back[key]);
  if (!same) throw new Error('no such date or time');
  return date;
}

function isoTimestamp(match: RegExpExecArray): Date {
  const [, year, month, day, hours, minutes, seconds, fraction, zone] = match;
  const parts = {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hours: Number(hours),
    minutes: Number(minutes),
    seconds: Number(seconds ?? 0),
    milliseconds: Math.floor(Number(`0.${fraction ?? 0}`) * 1000),
  };
  return dateOf(parts, zone);
}

/** The next time the clock shows this time of day: today, or tomorrow once it has passed. */
function nextTimeOfDay(match: RegExpExecArray, now: Date): Date {
  const [hours, minutes, seconds] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  if (hours > 23 || minutes > 59 || seconds > 59) throw new Error('no such time of day');
  const today = partsOf(now, false);
  const at = dateOf({ ...today, hours, minutes, seconds, milliseconds: 0 }, undefined);
  if (at > now) return at;
  return new Date(today.year, today.month - 1, today.day + 1, hours, minutes, seconds);
}

function fromNow(match: RegExpExecArray, now: Date): Date {
  const [, plainSeconds, hours, minutes, seconds] = match;
  if (Number(minutes ?? 0) > 59 || Number(seconds ?? 0) > 59) throw new Error('minutes and seconds go up to 59');
  const total = plainSeconds !== undefined ? Number(plainSeconds) : Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
  if (!(total > 0)) throw new Error('the time from now must be more than 0');
  return new Date(now.getTime() + total * 1000);
}

function parsed(text: string, now: Date): Date {
  const iso = ISO_TIMESTAMP.exec(text);
  if (iso) return isoTimestamp(iso);
  const timeOfDay = TIME_OF_DAY.exec(text);
  if (timeOfDay) return nextTimeOfDay(timeOfDay, now);
  const relative = FROM_NOW.exec(text);
  if (relative) return fromNow(relative, now);
  throw new Error(`give ${FORMATS}`);
}

/** When --end-time TIME is, seen at `now`; throws with what is wrong and what it takes. */
export function parseEndTime(text: string, now: Date): Date {
  let end: Date;
  try {
    end = parsed(text.trim(), now);
  } catch (err) {
    throw new Error(`'${text}': ${(err as Error).message}`);
  }
  if (end <= now) throw new Error(`'${text}' is ${end.toISOString()}, which has passed`);
  return end;
}
