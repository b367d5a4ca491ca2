// A response body sent in chunks as its rendering makes them: a scrape of 10,000 VMs is some 30 MB of text,
// which whole, with its gzip beside it, would be most of the daemon's memory for the time of a scrape.
import type { ServerResponse } from 'node:http';
import { pipeline, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip, gzip, type ZlibOptions } from 'node:zlib';
import type { ChunkedOutput } from './exposition.js';

/** Small enough that a few in flight cost little, large enough that gzip and the socket see few writes. */
const CHUNK_BYTES = 256 * 1024;
/** A chunk's memory: the chunk, and room for the rows of the step that fills it (see exposition.ts). */
const CHUNK_MEMORY_BYTES = CHUNK_BYTES + 64 * 1024;
/** Chunks kept for the next scrape: what one scrape has in flight (see GZIP_HIGH_WATER_MARK). */
const MAX_SPARE_CHUNKS = 4;

// Level 1: the exposition is large and repetitive, and level 1 compresses it in a fraction of the default
// level's time to a body only a little larger (BENCHMARKS.md, "Design measurements").
const GZIP_LEVEL = 1;
const gzipAsync = promisify(gzip);

/** A whole body compressed as every response of the endpoint is: a small exposition, the overview's JSON. */
export function gzipBody(body: Buffer | string): Promise<Buffer> {
  return gzipAsync(body, { level: GZIP_LEVEL });
}
/** Two chunks: gzip works on one while the rendering fills the next. */
const GZIP_HIGH_WATER_MARK = 2 * CHUNK_BYTES;

/**
 * Chunks' memory, handed back once sent and reused by later chunks and scrapes: without it, each scrape's
 * megabytes would wait for the garbage collector, which the daemon's small heap rarely runs, and the process
 * would grow by them.
 */
export class ChunkPool {
  readonly #spare: Buffer[] = [];

  take(): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_MEMORY_BYTES);
  }

  /** A chunk (a view of memory take() gave) sent and done with; memory that was grown instead is let go. */
  give(chunk: Buffer): void {
    if (chunk.buffer.byteLength !== CHUNK_MEMORY_BYTES || this.#spare.length >= MAX_SPARE_CHUNKS) return;
    this.#spare.push(Buffer.from(chunk.buffer));
  }
}

/** Resolves true once `stream` takes writes again, false if it closed first (the scraper went away). */
function drained(stream: Writable): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (result: boolean) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      resolve(result);
    };
    const onDrain = () => settle(true);
    const onClose = () => settle(false);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}

/**
 * The body of one response, rendered in chunks: a body of one chunk is sent whole with its length, as any
 * small response; a longer one is streamed (chunked transfer encoding) through gzip when `compress`. The
 * response's status and other headers are set before the first chunk.
 */
export class ChunkedBody implements ChunkedOutput {
  readonly chunkBytes = CHUNK_BYTES;
  readonly #res: ServerResponse;
  readonly #compress: boolean;
  readonly #pool: ChunkPool;
  /** Where chunks go once streaming: gzip piped into the response, or the response. */
  #stream: Writable | undefined;
  /** Bytes before compression, for the log. */
  bytes = 0;

  constructor(res: ServerResponse, compress: boolean, pool: ChunkPool) {
    this.#res = res;
    this.#compress = compress;
    this.#pool = pool;
  }

  memory(): Buffer {
    return this.#pool.take();
  }

  async send(chunk: Buffer): Promise<boolean> {
    const stream = this.#stream ?? this.#startStreaming();
    if (stream.destroyed) return false;
    this.bytes += chunk.length;
    if (stream.write(chunk, () => this.#pool.give(chunk))) return true;
    return drained(stream);
  }

  /** Sends the last chunk (the whole body when nothing was sent before) and resolves once all is sent. */
  async end(last: Buffer): Promise<void> {
    this.bytes += last.length;
    if (this.#stream === undefined) {
      await this.#endWhole(last);
      return;
    }
    this.#stream.end(last, () => this.#pool.give(last));
    await finished(this.#res);
  }

  #startStreaming(): Writable {
    const res = this.#res;
    if (!this.#compress) {
      this.#stream = res;
      return res;
    }
    res.setHeader('Content-Encoding', 'gzip');
    // zlib's streams take a Transform's options too, though its types do not say so.
    const compressor = createGzip({ level: GZIP_LEVEL, writableHighWaterMark: GZIP_HIGH_WATER_MARK } as ZlibOptions);
    // Either side failing (the scraper gone) destroys both; the rendering learns it from send().
    pipeline(compressor, res, () => {});
    this.#stream = compressor;
    return compressor;
  }

  async #endWhole(body: Buffer): Promise<void> {
    let sent = body;
    if (this.#compress) {
      sent = await gzipBody(body);
      this.#res.setHeader('Content-Encoding', 'gzip');
      // Compressed, the rendering is done with; sent as it is, the socket may hold it a while yet.
      this.#pool.give(body);
    }
    this.#res.setHeader('Content-Length', sent.length);
    this.#res.end(sent); // for HEAD, node sends the headers only
    await finished(this.#res);
  }
}
