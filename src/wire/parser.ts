// Frames to messages: one at a time with decodeFrame, or many with a Decoder.

import { Reader, ReaderCache } from './buffer-reader.js';
import { LastReadSection } from './vmm-section.js';
import type { AnyCodec } from './codec.js';
import { codecOfKind, requestCodecsByTag } from './codecs.js';
import { WireError } from './errors.js';
import { HEADER_SIZE, readHeader } from './header.js';
import type { Frame, Header } from './messages.js';
import { FAIL_TAG, INFO_REPLY_TAG, isReplyTag } from './tags.js';

const failCodec = codecOfKind('fail');
const successCodec = codecOfKind('success');
const infoReplyCodec = codecOfKind('vm.info_reply');

export interface DecodeOptions {
  /** Refuse frames whose header announces a longer payload. Unlimited by default: the bytes are already here. */
  maxFrameSize?: number;
}

/**
 * Decodes frame after frame for one owner (a connection, a client, a command), keeping what they repeat:
 * short ASCII strings it decoded lately, the last vmm section and its frozen descriptions array, the views of
 * the last frame's memory. The results are those of decodeFrame; nothing is shared between two Decoders, so
 * one's frames never change what another finds again.
 */
export class Decoder {
  readonly #cache = new ReaderCache(new LastReadSection());

  decode(bytes: Uint8Array, options?: DecodeOptions): Frame {
    return decodeWith(new Reader(bytes, 0, bytes.length, this.#cache), options);
  }
}

/**
 * The frame at the start of `bytes`, read with nothing kept from other frames. Bytes after the header's
 * length are ignored, as the seed ignores them. Throws WireError, with the frame's id whenever the header was
 * readable.
 */
export function decodeFrame(bytes: Uint8Array, options?: DecodeOptions): Frame {
  return decodeWith(new Reader(bytes), options);
}

function decodeWith(r: Reader, options: DecodeOptions | undefined): Frame {
  const header = readHeader(r);
  const maxFrameSize = options?.maxFrameSize ?? Infinity;
  if (header.length > maxFrameSize) {
    throw new WireError('frame_too_large', `frame announces ${header.length} bytes, more than the ${maxFrameSize} allowed`, header.id);
  }
  if (r.remaining < header.length) {
    throw new WireError(
      'length_mismatch',
      `frame is shorter than its header's length: ${header.length} bytes announced, ${r.remaining} present`,
      header.id,
    );
  }
  r.end = HEADER_SIZE + header.length;
  try {
    return { header, message: codecFor(header).read(r, header) };
  } catch (err) {
    if (err instanceof WireError && err.id === undefined) err.id = header.id;
    throw err;
  }
}

function codecFor(header: Header): AnyCodec {
  const tag = header.tag;
  if (tag === FAIL_TAG) return failCodec;
  if (tag === INFO_REPLY_TAG) return infoReplyCodec;
  if (isReplyTag(tag)) return successCodec;
  const codec = requestCodecsByTag.get(tag);
  if (codec === undefined) throw new WireError('unknown_tag', `unknown tag 0x${tag.toString(16)}`);
  return codec;
}
