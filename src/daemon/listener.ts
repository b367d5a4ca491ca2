// The daemon's Unix socket. Node's own server accepts in a loop until the backlog is empty, calling back for
// each connection: while a crowd keeps connecting, the event loop reads none of the connections it accepted.
// Here the addon accepts on a thread of its own, and the event loop takes a batch per turn, one connection of
// each connecting process in turn (native/acceptor.h).
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { acceptInBatches, listenUnix, type PeerCredentials } from '../sampler/host.js';
import { SamplerError, type AcceptedConnection, type NativeAcceptor } from '../sampler/sampler.js';

/** New connections taken per turn of the event loop: what a crowd connecting costs the others' turn. */
const CONNECTIONS_PER_TURN = 16;

export interface ListenerEvents {
  /** A new connection, and who connected it (as the kernel says), or why that could not be read. */
  connection(socket: Socket, peer: PeerCredentials | SamplerError): void;
  /** A connection that could not be accepted (EMFILE and the like); accepting goes on after a pause. */
  error(err: Error): void;
}

export class UnixListener {
  readonly #acceptor: NativeAcceptor;
  readonly #events: ListenerEvents;
  #closed = false;

  private constructor(listeningFd: number, events: ListenerEvents) {
    this.#events = events;
    this.#acceptor = acceptInBatches(listeningFd, CONNECTIONS_PER_TURN, (connections, errno) => this.#take(connections, errno));
  }

  /** Binds `path` (which must not exist) and listens; throws SamplerError, e.g. EADDRINUSE. */
  static listen(path: string, backlog: number, events: ListenerEvents): UnixListener {
    return new UnixListener(listenUnix(path, backlog), events);
  }

  /** Stops accepting and closes the listening socket; connections accepted stay open. */
  close(): void {
    this.#closed = true;
    this.#acceptor.close();
  }

  #take(connections: AcceptedConnection[], errno: number): void {
    try {
      for (const connection of connections) this.#adopt(connection);
      if (errno !== 0) this.#events.error(new SamplerError(errno, 'cannot accept a connection'));
    } finally {
      // The next batch waits for the next turn, after the connections already open have been read.
      setImmediate(() => this.#closed || this.#acceptor.next());
    }
  }

  #adopt(connection: AcceptedConnection): void {
    const { fd } = connection;
    if (this.#closed) {
      closeSync(fd);
      return;
    }
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable: true, writable: true });
    } catch (err) {
      closeSync(fd);
      this.#events.error(err as Error);
      return;
    }
    const peer = 'errno' in connection
      ? new SamplerError(connection.errno, 'cannot read the peer credentials of a connection')
      : { uid: connection.uid, gid: connection.gid };
    this.#events.connection(socket, peer);
  }
}
