// The web configuration file of Prometheus' exporter-toolkit (node_exporter's --web.config.file), read into
// what Node's TLS and HTTP servers take. The schema is the toolkit's, key for key; a key of that schema Node
// cannot honour, or that vmm-stats does not implement, refuses the file rather than being ignored, so that
// an operator never believes a protection is in force that is not.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_CIPHERS, createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import { parseDocument } from 'yaml';

/** What is wrong with a web config file, naming the file and the key or the file it refers to. */
export class WebConfigError extends Error {
  override name = 'WebConfigError';
}

export const CLIENT_AUTH_TYPES = [
  'NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** The TLS part of the file, its paths made absolute against the file's own directory (as the toolkit does). */
export interface TlsSettings {
  certFile: string;
  keyFile: string;
  clientCaFile: string | undefined;
  clientAuth: ClientAuthType;
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** An OpenSSL cipher list, or undefined for Node's default. */
  ciphers: string | undefined;
  honorCipherOrder: boolean;
  /** OpenSSL's names of the curves, in preference order, or undefined for Node's default. */
  ecdhCurve: string | undefined;
}

/** The whole file as parsed, before the files it names are read. */
export interface WebSettings {
  tls: TlsSettings | undefined;
  /** User name to bcrypt hash. */
  users: ReadonlyMap<string, string>;
  /** Extra response headers, by name. */
  headers: Readonly<Record<string, string>>;
}

/** The TLS part, ready for Node: the secure context's options (the files' contents) and the client policy. */
export interface TlsConfig {
  context: SecureContextOptions;
  clientAuth: ClientAuthType;
}

/** A web config file in force: everything a connection and a request need, with nothing left to read. */
export interface WebConfig {
  tls: TlsConfig | undefined;
  users: ReadonlyMap<string, string>;
  headers: Readonly<Record<string, string>>;
}

/** Larger than any sane config, certificate or key; a bound so that a wrong path (a log, a disk) is no read of gigabytes. */
const MAX_FILE_BYTES = 1024 * 1024;

const TLS_VERSIONS: Record<string, SecureVersion> = {
  TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3',
};
const VERSION_ORDER = Object.values(TLS_VERSIONS);

/**
 * Go's names of the cipher suites (those of Go's tls.CipherSuites(), which the toolkit accepts, and the
 * RSA key exchange ones older Go versions listed there), as OpenSSL names them.
 */
const TLS12_CIPHERS: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};

/** TLS 1.3's suites carry the same names in Go and OpenSSL. */
const TLS13_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/** The headers the toolkit lets a file set, with the values it allows where it restricts them. */
const HEADER_VALUES: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** Keys of the toolkit's schema that vmm-stats refuses, with why. */
const UNSUPPORTED: Record<string, string> = {
  'tls_server_config.cert': 'give the certificate as cert_file',
  'tls_server_config.key': 'give the key as key_file',
  'tls_server_config.client_ca': 'give the client CAs as client_ca_file',
  'tls_server_config.client_allowed_sans': 'vmm-stats does not match client certificates\' SANs',
  'http_server_config.http2': 'vmm-stats serves HTTP/1.1 only',
  rate_limit: 'use --web-max-requests',
};

/** The bcrypt hash format (the $2a$, $2b$ and $2y$ variants, which the same algorithm checks). */
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** A YAML mapping as a record (an absent or empty one as an empty record). */
function anyMapping(value: unknown, path: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new WebConfigError(`${path || 'the file'} must be a mapping`);
  return value as Record<string, unknown>;
}

/** A mapping of the schema's, refusing a key not in `known` (or one in UNSUPPORTED) by its dotted path. */
function mapping(value: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  const record = anyMapping(value, path);
  for (const key of Object.keys(record)) {
    const dotted = path === '' ? key : `${path}.${key}`;
    if (Object.hasOwn(UNSUPPORTED, dotted)) throw new WebConfigError(`${dotted} is not supported: ${UNSUPPORTED[dotted]}`);
    if (!known.includes(key)) throw new WebConfigError(`unknown key ${dotted} (known: ${known.join(', ')})`);
  }
  return record;
}

function optionalString(record: Record<string, unknown>, key: string, path: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new WebConfigError(`${path}.${key} must be a string`);
  return value;
}

/** The value `table` gives `text`, or a WebConfigError at `path` listing what it takes. */
function named<T>(table: Record<string, T>, text: string, path: string): T {
  // Own keys only: `constructor` is no TLS version.
  if (!Object.hasOwn(table, text)) throw new WebConfigError(`${path} takes one of ${Object.keys(table).join(', ')}, not ${JSON.stringify(text)}`);
  return table[text]!;
}

const CLIENT_AUTH_BY_NAME: Record<string, ClientAuthType> = Object.fromEntries(CLIENT_AUTH_TYPES.map((type) => [type, type]));

/** A string key whose values are `table`'s names, or `fallback` where it is absent. */
function namedOption<T>(record: Record<string, unknown>, key: string, path: string, table: Record<string, T>, fallback: T): T {
  const text = optionalString(record, key, path);
  return text === undefined ? fallback : named(table, text, `${path}.${key}`);
}

function stringList(value: unknown, path: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new WebConfigError(`${path} must be a list of strings`);
  return value as string[];
}

/**
 * The OpenSSL cipher list for `cipher_suites`. Go leaves TLS 1.3's suites out of the setting's reach; where
 * the list names none of them, Node's default TLS 1.3 suites stay on, as in Go (OpenSSL would otherwise turn
 * TLS 1.3 off, and fail every handshake a TLS 1.3 client begins). Where it names some, Node honours them.
 */
function cipherList(names: string[], path: string): string | undefined {
  if (names.length === 0) return undefined;
  const tls12 = names.filter((name) => !TLS13_CIPHERS.includes(name)).map((name) => named(TLS12_CIPHERS, name, path));
  const tls13 = names.filter((name) => TLS13_CIPHERS.includes(name));
  const defaultTls13 = DEFAULT_CIPHERS.split(':').filter((name) => name.startsWith('TLS_'));
  return [...(tls13.length > 0 ? tls13 : defaultTls13), ...tls12].join(':');
}

function tlsSettings(value: unknown, directory: string): TlsSettings | undefined {
  const path = 'tls_server_config';
  const record = mapping(value, path, [
    'cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'min_version', 'max_version', 'cipher_suites',
    'prefer_server_cipher_suites', 'curve_preferences',
  ]);
  if (Object.keys(record).length === 0) return undefined;
  const certFile = optionalString(record, 'cert_file', path);
  const keyFile = optionalString(record, 'key_file', path);
  if (certFile === undefined) throw new WebConfigError(`${path}.cert_file is missing`);
  if (keyFile === undefined) throw new WebConfigError(`${path}.key_file is missing`);
  const clientAuth = namedOption(record, 'client_auth_type', path, CLIENT_AUTH_BY_NAME, 'NoClientCert');
  const clientCaFile = optionalString(record, 'client_ca_file', path);
  if (clientCaFile !== undefined && clientAuth === 'NoClientCert') {
    throw new WebConfigError(`${path}.client_ca_file is given but client_auth_type is NoClientCert: no client certificate would be asked for`);
  }
  const minVersion = namedOption(record, 'min_version', path, TLS_VERSIONS, 'TLSv1.2');
  const maxVersion = namedOption(record, 'max_version', path, TLS_VERSIONS, 'TLSv1.3');
  if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) throw new WebConfigError(`${path}.min_version is above max_version`);
  const prefer = record.prefer_server_cipher_suites;
  if (prefer !== undefined && typeof prefer !== 'boolean') throw new WebConfigError(`${path}.prefer_server_cipher_suites must be true or false`);
  const curves = stringList(record.curve_preferences, `${path}.curve_preferences`)
    .map((name) => named(CURVES, name, `${path}.curve_preferences`));
  return {
    certFile: resolve(directory, certFile),
    keyFile: resolve(directory, keyFile),
    clientCaFile: clientCaFile === undefined ? undefined : resolve(directory, clientCaFile),
    clientAuth,
    minVersion,
    maxVersion,
    ciphers: cipherList(stringList(record.cipher_suites, `${path}.cipher_suites`), `${path}.cipher_suites`),
    honorCipherOrder: prefer ?? true,
    ecdhCurve: curves.length === 0 ? undefined : curves.join(':'),
  };
}

function basicAuthUsers(value: unknown): Map<string, string> {
  const record = anyMapping(value, 'basic_auth_users');
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(record)) {
    const cost = typeof hash === 'string' ? BCRYPT_HASH.exec(hash)?.[1] : undefined;
    if (cost === undefined || Number(cost) < 4 || Number(cost) > 31) {
      throw new WebConfigError(`basic_auth_users.${user} is not a bcrypt hash (such as htpasswd -nBC 10 "" prints)`);
    }
    users.set(user, hash as string);
  }
  return users;
}

function responseHeaders(value: unknown): Record<string, string> {
  const http = mapping(value, 'http_server_config', ['headers']);
  const headers = mapping(http.headers, 'http_server_config.headers', Object.keys(HEADER_VALUES));
  for (const [name, text] of Object.entries(headers)) {
    const allowed = HEADER_VALUES[name];
    if (typeof text !== 'string') throw new WebConfigError(`http_server_config.headers.${name} must be a string`);
    if (allowed !== undefined && !allowed.includes(text)) {
      throw new WebConfigError(`http_server_config.headers.${name} takes one of ${allowed.join(', ')}, not ${JSON.stringify(text)}`);
    }
  }
  return headers as Record<string, string>;
}

/** Parses the text of a web config file whose path is `file`; relative paths in it are against its directory. */
export function parseWebSettings(text: string, file: string): WebSettings {
  const document = parseDocument(text, { prettyErrors: false });
  const [syntaxError] = document.errors;
  if (syntaxError) throw new WebConfigError(`not valid YAML: ${syntaxError.message}`);
  const top = mapping(document.toJS(), '', ['tls_server_config', 'http_server_config', 'basic_auth_users']);
  return {
    tls: tlsSettings(top.tls_server_config, dirname(file)),
    users: basicAuthUsers(top.basic_auth_users),
    headers: responseHeaders(top.http_server_config),
  };
}

/** The files the settings name, whose change means reading them again. */
export function referencedFiles(settings: WebSettings): string[] {
  const tls = settings.tls;
  return tls === undefined ? [] : [tls.certFile, tls.keyFile, ...(tls.clientCaFile === undefined ? [] : [tls.clientCaFile])];
}

/**
 * A file's contents, or a WebConfigError naming the key that names it and the file (the web config file
 * itself, named by no key, its caller names).
 */
export function readBoundedFile(file: string, key?: string): Buffer {
  try {
    if (statSync(file).size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    return readFileSync(file);
  } catch (err) {
    throw new WebConfigError(`${key === undefined ? '' : `${key} ${file}: `}${(err as Error).message}`);
  }
}

/** Runs `check`, turning what it throws into a WebConfigError about `what`. */
function usable<T>(what: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new WebConfigError(`${what}: ${(err as Error).message}`);
  }
}

/** The PEM certificates of a client CA file: at least one, each of which parses. */
function clientCas(file: string): Buffer {
  const pem = readBoundedFile(file, 'tls_server_config.client_ca_file');
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const what = `tls_server_config.client_ca_file ${file}`;
  if (blocks.length === 0) throw new WebConfigError(`${what}: holds no PEM certificate`);
  for (const block of blocks) usable(what, () => new X509Certificate(block));
  return pem;
}

/** Reads the files the TLS settings name and checks that they make a usable server context. */
function tlsConfig(tls: TlsSettings): TlsConfig {
  const cert = readBoundedFile(tls.certFile, 'tls_server_config.cert_file');
  const key = readBoundedFile(tls.keyFile, 'tls_server_config.key_file');
  usable(`tls_server_config.cert_file ${tls.certFile}`, () => new X509Certificate(cert));
  usable(`tls_server_config.key_file ${tls.keyFile}`, () => createPrivateKey(key));
  const context: SecureContextOptions = {
    cert,
    key,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    honorCipherOrder: tls.honorCipherOrder,
    ...(tls.clientCaFile === undefined ? {} : { ca: clientCas(tls.clientCaFile) }),
    ...(tls.ciphers === undefined ? {} : { ciphers: tls.ciphers }),
    ...(tls.ecdhCurve === undefined ? {} : { ecdhCurve: tls.ecdhCurve }),
  };
  usable(`tls_server_config.cert_file ${tls.certFile} and key_file ${tls.keyFile}`, () => createSecureContext(context));
  return { context, clientAuth: tls.clientAuth };
}

/** Everything the settings need read from disk, checked: what a server puts in force. */
export function materialize(settings: WebSettings): WebConfig {
  return { tls: settings.tls && tlsConfig(settings.tls), users: settings.users, headers: settings.headers };
}
