// The HTTP endpoint Prometheus scrapes: GET /metrics renders the source's latest snapshot. GET / is a page
// for people, which follows the VMs through GET /api/overview.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChunkPool, ChunkedBody, gzipBody } from './chunked-body.js';
import { createWebServer, DEFAULT_MAX_REQUESTS, type WebOptions } from './web-server.js';
import type { Logger } from '../log/logger.js';
import { Slicer } from '../loop/slicer.js';
import {
  negotiateFormat, parseAcceptList, renderMetricsBytesInSlices, type ExpositionFormat, type SelfMetrics, type VmSnapshot,
} from './exposition.js';
import { answerOverview, OverviewHistory } from './history.js';
import { OVERVIEW_PAGE } from './page.js';

export interface MetricsSource {
  /**
   * What to serve now. The VMs are read while the rendering runs, in slices that let the event loop go on
   * between them: they stay readable until `done` is called, once the rendering has finished with them.
   */
  snapshot(): { vms: Iterable<VmSnapshot>; self: SelfMetrics; done?: () => void };
  /**
   * Calls `listener` each time the snapshot holds new samples (after a collector tick; after a burst of Data
   * frames), until the function returned is called: the overview's history records a round then, once per
   * interval, not per request. A source without it has an overview with no history.
   */
  onSamples?(listener: () => void): () => void;
}

/**
 * 9947, in the exporters' range (9100-9999) of Prometheus' "default port allocations" wiki page and not
 * in IANA's services list. That range is fully handed out, so register the port on the wiki (or move to
 * whatever it assigns) before a release; `--metrics HOST:PORT` / `--listen` override it meanwhile.
 */
export const DEFAULT_METRICS_PORT = 9947;

/** Loopback by default: VM names and traffic are the host's business until its operator opens them up. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

const OPEN_WEB: WebOptions = { configFile: undefined, maxRequests: DEFAULT_MAX_REQUESTS };

/**
 * `HOST:PORT`, `[IPV6]:PORT`, `:PORT` (every IPv4 interface) or `HOST` (the default port), as `--metrics` and
 * `--listen` take it. Throws an Error that says what is wrong.
 */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*))(?::(\d+))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? DEFAULT_METRICS_PORT : Number(match[3]);
  if (!match || host === undefined || port > 65535 || (host === '' && match[3] === undefined)) {
    throw new Error(`expected HOST:PORT, [IPV6]:PORT or :PORT, not ${JSON.stringify(text)}`);
  }
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export interface MetricsServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

function acceptsGzip(acceptEncoding: string | undefined): boolean {
  return parseAcceptList(acceptEncoding).some((e) => e.value === 'gzip' && e.q > 0);
}

/** What each request needs beyond the source: the previous scrape's duration, and whether we are closing. */
interface ServerState {
  source: MetricsSource;
  logger: Logger;
  lastScrapeSeconds: number | undefined;
  closing: boolean;
  /** Memory for the expositions' chunks, shared by the scrapes. */
  chunks: ChunkPool;
  history: OverviewHistory;
}

async function serveMetrics(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = process.hrtime.bigint();
  const { format, contentType } = negotiateFormat(req.headers.accept);
  res.statusCode = 200;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Vary', 'Accept, Accept-Encoding');
  if (state.closing) res.setHeader('Connection', 'close');
  const body = new ChunkedBody(res, acceptsGzip(req.headers['accept-encoding']), state.chunks);
  const last = await renderSnapshot(state, format, body);
  try {
    if (last === undefined) throw new Error('the response closed');
    await body.end(last);
  } catch (err) {
    // The scraper went away (a timeout, say) before the whole body was sent: nothing to answer.
    state.logger.debug({ err, format, bytesSent: body.bytes }, 'metrics scrape abandoned by the scraper');
    res.destroy();
    return;
  }
  state.lastScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  state.logger.debug({ format, bytes: body.bytes, seconds: state.lastScrapeSeconds }, 'served metrics');
}

async function renderSnapshot(state: ServerState, format: ExpositionFormat, body: ChunkedBody): Promise<Buffer | undefined> {
  const { vms, self, done } = state.source.snapshot();
  try {
    return await renderMetricsBytesInSlices(vms, self, format, state.lastScrapeSeconds, new Slicer(), body);
  } finally {
    done?.();
  }
}

function send(state: ServerState, res: ServerResponse, status: number, contentType: string, body: Buffer | string) {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  // While closing, end keep-alive connections after this response so that close() can finish.
  if (state.closing) res.setHeader('Connection', 'close');
  res.end(body); // for HEAD, node sends the headers only
}

function pathOf(url: string | undefined): string {
  const path = url ?? '/';
  const query = path.indexOf('?');
  return query < 0 ? path : path.slice(0, query);
}

/** The overview's rounds after `?since=`, compressed like the metrics: at 1000 VMs it is tens of kilobytes. */
async function serveOverview(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const answer = await answerOverview(state.history, queryOf(req.url), new Slicer());
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (!answer.ok) {
    send(state, res, 400, 'text/plain; charset=utf-8', `${answer.error}\n`);
    return;
  }
  let body: Buffer | string = answer.json;
  if (acceptsGzip(req.headers['accept-encoding'])) {
    body = await gzipBody(body);
    res.setHeader('Content-Encoding', 'gzip');
  }
  res.setHeader('Vary', 'Accept-Encoding');
  send(state, res, 200, 'application/json; charset=utf-8', body);
}

function servePage(state: ServerState, res: ServerResponse): void {
  // Its own Content-Security-Policy replaces one the web config sets: another would keep its script from
  // running, and this one is already as strict as a page with a script can be.
  for (const [name, value] of Object.entries(OVERVIEW_PAGE.headers)) res.setHeader(name, value);
  send(state, res, 200, 'text/html; charset=utf-8', OVERVIEW_PAGE.html);
}

/**
 * The overview's round: the source's VMs as they are right after their new samples, in slices as the
 * rendering is. A round still being recorded when the next samples come makes that one wait for the next.
 */
async function recordRound(state: ServerState): Promise<void> {
  if (state.history.recording) {
    state.logger.debug('the overview is still recording the last round: this one is left out');
    return;
  }
  let done: (() => void) | undefined;
  try {
    const snapshot = state.source.snapshot();
    done = snapshot.done;
    await state.history.record(snapshot.vms, { slicer: new Slicer() });
  } catch (err) {
    state.logger.error({ err }, 'could not record the overview\'s history');
  } finally {
    done?.();
  }
}

const PATHS = new Set(['/', '/metrics', '/api/overview']);

function queryOf(url: string | undefined): URLSearchParams {
  const query = url?.indexOf('?') ?? -1;
  return new URLSearchParams(query < 0 ? '' : url!.slice(query + 1));
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req.url);
  if (!PATHS.has(path)) {
    send(state, res, 404, 'text/plain; charset=utf-8', 'Not found: try /metrics, or / in a browser\n');
  } else if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(state, res, 405, 'text/plain; charset=utf-8', 'Method not allowed: use GET\n');
  } else if (path === '/') {
    servePage(state, res);
  } else if (path === '/api/overview') {
    await serveOverview(state, req, res);
  } else {
    await serveMetrics(state, req, res);
  }
}

function failed(state: ServerState, res: ServerResponse, err: unknown): void {
  state.logger.error({ err }, 'metrics request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.removeHeader('Content-Encoding');
  send(state, res, 500, 'text/plain; charset=utf-8', 'Internal error while rendering metrics\n');
}

/** Serves /metrics, and the overview page at / with its /api/overview, on host:port; port 0 picks a free port. */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  source: MetricsSource;
  logger: Logger;
  /** TLS, auth and limits for every path; by default plain HTTP for anyone, with node_exporter's bound. */
  web?: WebOptions;
}): Promise<MetricsServer> {
  const state: ServerState = {
    source: opts.source,
    logger: opts.logger,
    lastScrapeSeconds: undefined,
    closing: false,
    chunks: new ChunkPool(),
    history: new OverviewHistory(),
  };
  const stopRecording = opts.source.onSamples?.(() => void recordRound(state));
  const { server, scheme } = createWebServer(opts.web ?? OPEN_WEB, opts.logger, (req, res) => {
    handle(state, req, res).catch((err: unknown) => failed(state, res, err));
  });
  // Requests that do not parse never reach the handler: node answers them (400, 431) and closes.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.logger.error({ err }, 'metrics server error'));
  const { address: host, port } = server.address() as AddressInfo;
  opts.logger.info({ host, port, url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/metrics` },
    'serving metrics');
  return {
    address: { host, port },
    close: () => new Promise<void>((resolve, reject) => {
      state.closing = true;
      stopRecording?.();
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
    }),
  };
}
