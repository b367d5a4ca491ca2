// Where the points go, from the URL an operator gives: line protocol over TCP (a telegraf socket_listener,
// albatross-influx's way), or InfluxDB's HTTP write API, 1.x's or 2.x's.

export type InfluxTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'http'; api: '1.x' | '2.x'; url: URL };

export const URL_FORMS = 'tcp://HOST:PORT, http(s)://HOST:PORT/write?db=DB or http(s)://HOST:PORT/api/v2/write?org=ORG&bucket=BUCKET';

/** A URL that is none of the forms, said with what was wrong and what would do. */
class TargetError extends Error {
  override name = 'TargetError';

  constructor(problem: string) {
    super(`${problem} (the forms: ${URL_FORMS})`);
  }
}

function portOf(url: URL): number {
  // The WHATWG parser drops a scheme's default port, so that http://host:80/ has none left to check.
  const port = url.port === '' ? { 'http:': 80, 'https:': 443 }[url.protocol] : Number(url.port);
  if (port === undefined || !(port > 0)) throw new TargetError(`${url.href} names no port`);
  return port;
}

function tcpTarget(url: URL): InfluxTarget {
  if (url.hostname === '') throw new TargetError(`${url.href} names no host`);
  if (!['', '/'].includes(url.pathname) || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new TargetError(`a tcp:// URL is a host and port only, not ${url.href}`);
  }
  // A non-special scheme keeps an IPv6 address's brackets in hostname; net.connect wants it bare.
  return { kind: 'tcp', host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: portOf(url) };
}

function requireParams(url: URL, names: string[]): void {
  const missing = names.filter((name) => (url.searchParams.get(name) ?? '') === '');
  if (missing.length > 0) throw new TargetError(`${url.pathname} needs ${missing.map((name) => `${name}=`).join(' and ')} in ${url.href}`);
}

function httpTarget(url: URL): InfluxTarget {
  portOf(url);
  if (url.username !== '' || url.password !== '' || url.searchParams.has('p')) {
    throw new TargetError('a password in the URL would show in every process listing: give a token file (--token-file) instead');
  }
  if (url.searchParams.has('precision')) {
    throw new TargetError(`vmm-stats writes nanosecond timestamps, so the URL sets no precision: ${url.href}`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/api/v2/write')) {
    requireParams(url, ['org', 'bucket']);
    return { kind: 'http', api: '2.x', url };
  }
  if (path.endsWith('/write')) {
    requireParams(url, ['db']);
    return { kind: 'http', api: '1.x', url };
  }
  throw new TargetError(`${url.href} is neither InfluxDB's /write nor its /api/v2/write`);
}

/** The target a --influx URL names; throws, saying why, for anything else. */
export function parseInfluxUrl(text: string): InfluxTarget {
  // `host:port` parses as a URL of the scheme `host:`: say what is missing instead.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new TargetError(`'${text}' names no scheme`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TargetError(`'${text}' is not a URL`);
  }
  switch (url.protocol) {
    case 'tcp:':
      return tcpTarget(url);
    case 'http:':
    case 'https:':
      return httpTarget(url);
    default:
      throw new TargetError(`${url.protocol}// is not a scheme vmm-stats writes to`);
  }
}
