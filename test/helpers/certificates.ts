// Certificates for the TLS tests, made by `openssl` in a directory of the test's: certificate authorities,
// and server and client certificates each signed by one of them. EC P-256 keys, quick to make.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findTool } from './prometheus.js';

const run = promisify(execFile);

export const openssl = findTool('openssl');

/** A certificate and its key, as files. */
export interface KeyPair {
  cert: string;
  key: string;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed certificate authority named `name`, in `dir`. */
export async function certificateAuthority(dir: string, name: string): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  await run(openssl!, ['req', '-x509', ...KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '2', '-subj', `/CN=${name}`]);
  return pair;
}

/**
 * A certificate for `name` signed by `ca`: for a server, valid for the DNS names and IP addresses in `san`
 * (such as `DNS:metrics.test`); for a client, for client authentication.
 */
export async function issue(dir: string, name: string, ca: KeyPair, use: { server: string[] } | 'client'): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const request = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  await writeFile(extensions, use === 'client'
    ? 'extendedKeyUsage=clientAuth\n'
    : `extendedKeyUsage=serverAuth\nsubjectAltName=${use.server.join(',')}\n`);
  await run(openssl!, ['req', ...KEY, '-keyout', pair.key, '-out', request, '-subj', `/CN=${name}`]);
  await run(openssl!, [
    'x509', '-req', '-in', request, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(Date.now()), '-days', '2',
    '-out', pair.cert, '-extfile', extensions,
  ]);
  return pair;
}
