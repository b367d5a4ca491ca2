// What the daemon asks of the host beyond samples, through the addon (native/host.h).
import { native, SamplerError, type AcceptedConnection, type NativeAcceptor } from './sampler.js';

/**
 * The effective uid and gid of the process at the other end of a connected Unix socket, as the kernel
 * recorded them at connect(2) (SO_PEERCRED on Linux, LOCAL_PEERCRED on FreeBSD).
 */
export interface PeerCredentials {
  uid: number;
  gid: number;
}

/** Raises the soft open-files limit to the hard one; the limit in force afterwards, and why raising failed. */
export function raiseOpenFilesLimit(): { soft: number; hard: number; error?: SamplerError } {
  const { soft, hard, errno } = native().raiseOpenFilesLimit();
  return errno === 0 ? { soft, hard } : { soft, hard, error: new SamplerError(errno, 'cannot raise the open-files limit') };
}

/** A Unix stream socket bound at `path` and listening, as a descriptor; throws SamplerError (e.g. EADDRINUSE). */
export function listenUnix(path: string, backlog: number): number {
  const result = native().listenUnix(path, backlog);
  if (typeof result === 'number') throw new SamplerError(result, `cannot listen on ${path}`);
  return result.fd;
}

/**
 * Accepts connections on `listeningFd`, which it then owns, on a thread of the addon: `onBatch` gets up to
 * `perBatch` of them (each a descriptor with its peer's credentials, or the errno that kept them unread) and
 * the errno that ended the batch (0 for none), and no further batch until next() is called.
 */
export function acceptInBatches(
  listeningFd: number, perBatch: number, onBatch: (connections: AcceptedConnection[], errno: number) => void,
): NativeAcceptor {
  return new (native().Acceptor)(listeningFd, perBatch, onBatch);
}
