// A web config file kept in force while it changes on disk, as the exporter-toolkit re-reads its own for
// each connection: certificates rotate without a restart. Noticing costs a stat of the file and of each
// file it names per look; they are read again only when one of them changed. A version that does not load
// leaves the one before it in force, and is logged once.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../log/logger.js';
import {
  materialize, parseWebSettings, readBoundedFile, referencedFiles, WebConfigError, type WebConfig,
} from './web-config.js';

/** What identifies one version of a file without reading it: inode, size and times, or why it cannot be read. */
function fileVersion(file: string): string {
  try {
    const stats = statSync(file, { bigint: true });
    return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

type Versions = Map<string, string>;

function versionsOf(files: Iterable<string>): Versions {
  return new Map([...files].map((file) => [file, fileVersion(file)]));
}

/**
 * One attempt: the config, or why not. `versions` are those of the files it read, each taken before the
 * read, so that a change during the attempt still shows as a change at the next look.
 */
type Loaded =
  | { kind: 'loaded'; config: WebConfig; versions: Versions }
  | { kind: 'failed'; error: WebConfigError; files: string[] };

function load(file: string): Loaded {
  const versions = versionsOf([file]);
  let files: string[] = [];
  try {
    const settings = parseWebSettings(readBoundedFile(file).toString('utf8'), file);
    files = referencedFiles(settings);
    for (const [named, version] of versionsOf(files)) versions.set(named, version);
    return { kind: 'loaded', config: materialize(settings), versions };
  } catch (err) {
    if (!(err instanceof WebConfigError)) throw err;
    return { kind: 'failed', error: new WebConfigError(`${file}: ${err.message}`), files };
  }
}

export class WebConfigFile {
  readonly path: string;
  readonly #logger: Logger;
  #config: WebConfig;
  /**
   * The versions last seen of the file and of those it names: the config in force's, and a failed attempt's
   * (a file it named may appear later, and be worth another attempt then).
   */
  #versions: Versions;

  private constructor(path: string, logger: Logger, config: WebConfig, versions: Versions) {
    this.path = path;
    this.#logger = logger;
    this.#config = config;
    this.#versions = versions;
  }

  /** Loads `path`; throws a WebConfigError naming the file and what in it is wrong. */
  static open(path: string, logger: Logger): WebConfigFile {
    const file = resolve(path);
    const loaded = load(file);
    if (loaded.kind === 'failed') throw loaded.error;
    return new WebConfigFile(file, logger, loaded.config, loaded.versions);
  }

  /** The config in force, read again first if the file or a file it names changed since the last look. */
  current(): WebConfig {
    for (const [file, version] of this.#versions) {
      if (fileVersion(file) !== version) {
        this.#reload();
        break;
      }
    }
    return this.#config;
  }

  #reload(): void {
    const loaded = load(this.path);
    if (loaded.kind === 'failed') {
      this.#refuse(loaded.error, loaded.files);
    } else if ((loaded.config.tls === undefined) !== (this.#config.tls === undefined)) {
      this.#refuse(new WebConfigError(`${this.path}: turning TLS on or off takes a restart`), [...loaded.versions.keys()]);
    } else {
      this.#config = loaded.config;
      this.#versions = loaded.versions;
      this.#logger.info({ file: this.path }, 'web config reloaded');
    }
  }

  /** Logs why the new version is not taken, and looks again only once something changes again. */
  #refuse(error: WebConfigError, files: string[]): void {
    this.#versions = versionsOf(new Set([...this.#versions.keys(), ...files]));
    this.#logger.error({ file: this.path, reason: error.message }, 'web config not reloaded; the one before stays in force');
  }
}
