// The HTTP(S) server under the metrics endpoint, with what an exporter on a real network needs around every
// path it serves: TLS and basic auth from a web config file (re-read as it changes), its extra response
// headers, a bound on requests answered at once, and timeouts that drop a client too slow to send a request.
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.js';
import { BasicAuthenticator } from './basic-auth.js';
import type { WebConfigFile } from './web-config-file.js';
import type { ClientAuthType, TlsConfig, WebConfig } from './web-config.js';

/** node_exporter's --web.max-requests default. */
export const DEFAULT_MAX_REQUESTS = 40;

export interface WebOptions {
  /** TLS, users and headers; none: plain HTTP for anyone. */
  configFile: WebConfigFile | undefined;
  /** Requests answered at once, past which a request gets 503; 0 for no bound. */
  maxRequests: number;
}

/** A request's headers must all have come by then, from the connection's start or the previous request's end. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request likewise (a scrape is a GET, so little more than its headers). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A TLS handshake must be done by then. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A connection on which nothing moves for this long is closed: a client that stopped reading its response. */
const IDLE_TIMEOUT_MS = 120_000;
/**
 * How often node looks for requests past their timeouts (its default, 30 s, would let a client a byte a
 * second keep a connection 40 s rather than 10).
 */
const TIMEOUT_CHECK_MS = 1000;

const SERVER_TIMEOUTS = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionsCheckingInterval: TIMEOUT_CHECK_MS,
};

/** How node's TLS server asks for a client certificate under each policy; what it cannot, checkClientCertificate does. */
const CERTIFICATE_REQUEST: Record<ClientAuthType, { requestCert: boolean; rejectUnauthorized: boolean }> = {
  NoClientCert: { requestCert: false, rejectUnauthorized: false },
  RequestClientCert: { requestCert: true, rejectUnauthorized: false },
  RequireAnyClientCert: { requestCert: true, rejectUnauthorized: false },
  VerifyClientCertIfGiven: { requestCert: true, rejectUnauthorized: false },
  // OpenSSL fails the handshake of a client without a certificate; node closes one whose certificate fails.
  RequireAndVerifyClientCert: { requestCert: true, rejectUnauthorized: true },
};

/**
 * Why a connection that finished its handshake is refused under `policy`, or undefined. Node cannot require a
 * certificate it does not verify, nor verify one only if given, in the handshake itself: those policies
 * close the connection right after it, before any HTTP.
 */
function refusedCertificate(policy: ClientAuthType, socket: TLSSocket): string | undefined {
  const given = socket.getPeerCertificate().raw !== undefined;
  if (policy === 'RequireAnyClientCert' && !given) return 'no client certificate';
  if (policy === 'VerifyClientCertIfGiven' && given && !socket.authorized) return `client certificate: ${String(socket.authorizationError)}`;
  return undefined;
}

/** The request options of node's TLS server, which node reads for each new connection. */
interface CertificateRequestOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** A TLS server whose context and client policy follow the web config file from one connection to the next. */
function tlsServer(configFile: WebConfigFile, first: TlsConfig, logger: Logger, listener: RequestListener): HttpsServer {
  const server = createHttpsServer({
    ...SERVER_TIMEOUTS, ...first.context, ...CERTIFICATE_REQUEST[first.clientAuth], handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  }, listener);
  let inForce = first;
  // Before node's own listener wraps the connection in TLS with the server's context and request options.
  server.prependListener('connection', () => {
    const tls = configFile.current().tls;
    if (tls === undefined || tls === inForce) return;
    server.setSecureContext(tls.context);
    // The one way to change them for the connections to come: node copies these two fields into each.
    Object.assign(server as unknown as CertificateRequestOptions, CERTIFICATE_REQUEST[tls.clientAuth]);
    inForce = tls;
  });
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const refused = refusedCertificate(inForce.clientAuth, socket);
    if (refused === undefined) return;
    logger.debug({ remote: socket.remoteAddress, reason: refused }, 'TLS client refused');
    socket.destroy();
  });
  server.on('tlsClientError', (err, socket) => logger.debug({ remote: socket.remoteAddress, reason: err.message }, 'TLS handshake failed'));
  return server;
}

function refuse(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Wraps the endpoint's own listener with the config's headers, the request bound and basic auth. */
function guarded(web: WebOptions, listener: RequestListener): RequestListener {
  const authenticator = new BasicAuthenticator();
  let answering = 0;
  const guard = async (config: WebConfig | undefined, req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(config?.headers ?? {})) res.setHeader(name, value);
    if (web.maxRequests > 0 && answering >= web.maxRequests) {
      refuse(res, 503, `Too many requests at once (at most ${web.maxRequests}); try again later\n`);
      return;
    }
    answering++;
    res.once('close', () => answering--);
    if (config !== undefined && config.users.size > 0 && !(await authenticator.verify(config.users, req.headers.authorization))) {
      res.setHeader('WWW-Authenticate', 'Basic realm="vmm-stats", charset="UTF-8"');
      refuse(res, 401, 'Unauthorized\n');
      return;
    }
    listener(req, res);
  };
  return (req, res) => {
    guard(web.configFile?.current(), req, res).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  };
}

/** The server, HTTPS when the web config has TLS; it does not listen yet. */
export function createWebServer(
  web: WebOptions,
  logger: Logger,
  listener: RequestListener,
): { server: Server | HttpsServer; scheme: 'http' | 'https' } {
  const first = web.configFile?.current().tls;
  const server = first === undefined || web.configFile === undefined
    ? createHttpServer(SERVER_TIMEOUTS, guarded(web, listener))
    : tlsServer(web.configFile, first, logger, guarded(web, listener));
  server.timeout = IDLE_TIMEOUT_MS;
  return { server, scheme: first === undefined ? 'http' : 'https' };
}
