import { createConnection } from 'node:net';
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.js';

/** The seed's path for the stats daemon's socket. */
export const DEFAULT_SOCKET_PATH = '/var/run/albatross/stat.sock';

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Does something accept connections on this Unix socket? */
function isAnswering(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Makes the socket's directory, and clears the way for the socket: a stale socket file is removed, a live
 * one (another daemon answers there) or a file that is not a socket is an error, never overwritten.
 */
export async function prepareSocketPath(path: string, logger: Logger): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!stats.isSocket()) throw new Error(`${path} exists and is not a socket: refusing to replace it`);
  if (await isAnswering(path)) {
    throw new Error(`another daemon is already listening on ${path}: stop it first, or pass another --socket`);
  }
  await unlink(path);
  logger.info({ socket: path }, 'removed a stale socket left by a daemon that is gone');
}

/** A user or group given by name or number, as its id: names are looked up in /etc/passwd or /etc/group. */
async function resolveId(name: string, database: '/etc/passwd' | '/etc/group', what: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const lines = (await readFile(database, 'utf8')).split('\n');
  const entry = lines.map((line) => line.split(':')).find((fields) => fields[0] === name);
  if (entry === undefined || entry[2] === undefined) throw new Error(`no ${what} named '${name}' in ${database}`);
  return Number(entry[2]);
}

export function resolveGroup(group: string): Promise<number> {
  return resolveId(group, '/etc/group', 'group');
}

export function resolveUser(user: string): Promise<number> {
  return resolveId(user, '/etc/passwd', 'user');
}

/** Gives the socket its mode and group, so that the VM manager and subscribers in that group may connect. */
export async function setSocketAccess(path: string, mode: number, gid: number | undefined): Promise<void> {
  if (gid !== undefined) await chown(path, -1, gid);
  await chmod(path, mode);
}

/** Removes the socket file, if it is still there. */
export async function removeSocket(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
