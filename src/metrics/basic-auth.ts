// HTTP basic authentication against the bcrypt hashes of a web config file. bcrypt is meant to be slow (a
// cost of 10 takes tens of milliseconds, more in JavaScript), too slow to pay on every scrape: a successful
// check is remembered, by a digest of user, hash and password, so a scraper's next request with the same
// password costs a hash of SHA-256. Only successes are kept: a wrong password is never remembered as
// anything, so it pays bcrypt each time, and guesses cannot push the right passwords out of the memory.
import { createHash } from 'node:crypto';
import { compare } from 'bcryptjs';

/** Enough for every user of any sane file, with hashes changed a few times; the memory starts over past it. */
const MAX_REMEMBERED = 1000;

/**
 * A bcrypt hash of a random password nobody knows, checked for a user that does not exist, so that such a
 * request takes as long as one for a user that does and cannot tell which names exist.
 */
const UNKNOWN_USER_HASH = '$2b$10$DdFcpSskBlH7SfvwkRaHcOEIjpzouX00Z.ve8CNw.RBVoV5JBqfhm';

/** The user and password of an `Authorization: Basic` header, or undefined when there is none that parses. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class BasicAuthenticator {
  readonly #remembered = new Set<string>();
  /** bcrypt checks run one at a time, as the toolkit's do: a burst of guesses queues rather than piles up. */
  #queue: Promise<unknown> = Promise.resolve();

  /** Whether `header` carries a user of `users` with the password its hash is of. */
  async verify(users: ReadonlyMap<string, string>, header: string | undefined): Promise<boolean> {
    const credentials = basicCredentials(header);
    if (credentials === undefined) return false;
    const hash = users.get(credentials.user);
    const key = createHash('sha256').update(JSON.stringify([credentials.user, hash, credentials.password])).digest('base64');
    if (hash !== undefined && this.#remembered.has(key)) return true;
    const matches = await this.#check(credentials.password, hash ?? UNKNOWN_USER_HASH);
    if (!matches || hash === undefined) return false;
    if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.clear();
    this.#remembered.add(key);
    return true;
  }

  #check(password: string, hash: string): Promise<boolean> {
    const checked = this.#queue.then(() => compare(password, hash));
    this.#queue = checked.catch(() => undefined);
    return checked;
  }
}
