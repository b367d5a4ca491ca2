// Cuts a byte stream (a socket's chunks, of any size and alignment) into whole frames.

import { WireError } from './errors.js';
import { decodeHeader, HEADER_SIZE } from './header.js';

/**
 * 1 MiB. A Stats Data frame is about 1.7 KB for 40 counters and 2 interfaces, and stays under 100 KB with
 * hundreds of interfaces, so every frame a stats client or daemon exchanges fits many times over, while a
 * peer cannot make a reader hold more than this per connection. The one larger message is Vm Create,
 * which carries a unikernel image: a reader of the Vm channel raises the limit.
 */
export const DEFAULT_MAX_FRAME_SIZE = 1 << 20;

export interface FrameReaderOptions {
  /** The largest payload (bytes after the header) accepted. */
  maxFrameSize?: number;
}

/**
 * A header that cannot be read, or that announces too large a frame. The stream cannot be resynchronised
 * after it: the reader stays failed.
 */
export class FrameStreamError extends WireError {
  override name = 'FrameStreamError';
  /**
   * The complete frames that came before the bad header in the chunk being pushed, which push() could not
   * return; empty when the reader had already failed.
   */
  readonly frames: Buffer[];

  constructor(failure: WireError, frames: Buffer[]) {
    super(failure.code, failure.message, failure.id);
    this.frames = frames;
  }
}

export class FrameReader {
  private readonly maxFrameSize: number;
  /** Copies of the bytes received and not yet returned as part of a frame. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Size of the frame being gathered, header included, once its header has been read. */
  private frameSize: number | undefined;
  private failure: WireError | undefined;

  constructor(options?: FrameReaderOptions) {
    this.maxFrameSize = options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** Bytes received that do not yet make a complete frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /**
   * Takes the next chunk of the stream and returns the frames it completes, header included, each in its
   * own memory. A header with a bad version or a length over the maximum throws FrameStreamError (a
   * WireError, with the frame's id) as soon as its 20 bytes are in, before the body is awaited or allocated;
   * every later push throws it again. An incomplete header or body is not an error: it waits for more.
   */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failure !== undefined) throw new FrameStreamError(this.failure, []);
    const frames: Buffer[] = [];
    let offset = 0;
    while (true) {
      const available = this.pendingBytes + chunk.length - offset;
      if (this.frameSize === undefined) {
        if (available < HEADER_SIZE) break;
        try {
          this.frameSize = HEADER_SIZE + this.checkedLength(this.peekHeader(chunk, offset));
        } catch (err) {
          if (!(err instanceof WireError)) throw err;
          this.fail(err);
          throw new FrameStreamError(err, frames);
        }
      }
      if (available < this.frameSize) break;
      offset = this.completeFrame(chunk, offset, frames);
    }
    this.keep(chunk.subarray(offset));
    return frames;
  }

  /** The 20 header bytes, which may straddle the pending bytes and the chunk. */
  private peekHeader(chunk: Uint8Array, offset: number): Uint8Array {
    if (this.pendingBytes === 0) return chunk.subarray(offset, offset + HEADER_SIZE);
    return Buffer.concat([...this.pending, chunk.subarray(offset, offset + HEADER_SIZE)], HEADER_SIZE);
  }

  private checkedLength(headerBytes: Uint8Array): number {
    const header = decodeHeader(headerBytes);
    if (header.length > this.maxFrameSize) {
      throw new WireError(
        'frame_too_large',
        `frame announces ${header.length} bytes, more than the ${this.maxFrameSize} allowed`,
        header.id,
      );
    }
    return header.length;
  }

  /** Moves the pending bytes and the rest of the frame from the chunk into a frame; returns the new offset. */
  private completeFrame(chunk: Uint8Array, offset: number, frames: Buffer[]): number {
    const frame = Buffer.allocUnsafe(this.frameSize!);
    let filled = 0;
    for (const piece of this.pending) {
      frame.set(piece, filled);
      filled += piece.length;
    }
    const end = offset + frame.length - filled;
    frame.set(chunk.subarray(offset, end), filled);
    frames.push(frame);
    this.pending = [];
    this.pendingBytes = 0;
    this.frameSize = undefined;
    return end;
  }

  private keep(rest: Uint8Array): void {
    if (rest.length === 0) return;
    this.pending.push(Buffer.from(rest));
    this.pendingBytes += rest.length;
  }

  private fail(err: WireError): void {
    this.failure = err;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
