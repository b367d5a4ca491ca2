// What the daemon asks of the host beyond samples, through the addon (native/host.h).
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { native, SamplerError, type NativeAcceptor } from './sampler.js';

export interface PeerCredentials {
  uid: number;
  gid: number;
}

/**
 * The effective uid and gid of the process at the other end of a connected Unix socket, as the kernel
 * recorded them at connect(2) (SO_PEERCRED on Linux, getpeereid on FreeBSD). Throws SamplerError when they
 * cannot be had, e.g. for a socket that is not a Unix socket.
 */
export function peerCredentials(socket: Socket): PeerCredentials {
  // Node keeps the descriptor on the socket's libuv handle and offers no public way to it.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new SamplerError(constants.errno.EBADF, 'no file descriptor behind the socket');
  const result = native().peerCredentials(fd);
  if (typeof result === 'number') throw new SamplerError(result, 'cannot read the peer credentials of a connection');
  return result;
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
 * `perBatch` of them (descriptors) and the errno that ended the batch (0 for none), and no further batch
 * until next() is called.
 */
export function acceptInBatches(listeningFd: number, perBatch: number, onBatch: (fds: number[], errno: number) => void): NativeAcceptor {
  return new (native().Acceptor)(listeningFd, perBatch, onBatch);
}
