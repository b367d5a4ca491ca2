// Replies: success (the request's tag with the reply bit) and failure (the all-ones tag), each with an
// optional message; an empty payload means no message. A reply carries no VM name.

import type { Reader } from './buffer-reader.js';
import type { Writer } from './buffer-writer.js';
import type { Codec } from './codec.js';
import { WireError } from './errors.js';
import type { Message } from './messages.js';
import { FAIL_TAG, REPLY_BIT, Tag } from './tags.js';

function writeOptionalMessage(w: Writer, msg: string | null): void {
  if (msg !== null) w.string(msg);
}

function readOptionalMessage(r: Reader): string | null {
  return r.remaining === 0 ? null : r.string();
}

/**
 * The reply tag for a success to a request tagged `tag`. Two request tags have no success reply that
 * decodes as one: 0x7FFFFFFF (its reply is the failure tag) and Vm Info (its reply tag is the Info reply's).
 */
function successTag(tag: number): number {
  if (!(Number.isInteger(tag) && tag >= 0 && tag < REPLY_BIT - 1) || tag === Tag.VmInfo) {
    throw new WireError('bad_value', `no success reply can carry request tag ${tag}`);
  }
  return (REPLY_BIT | tag) >>> 0;
}

const success: Codec<'success'> = {
  kind: 'success',
  tag: undefined,
  replyTag: (message) => successTag(message.tag),
  write(w, message) {
    writeOptionalMessage(w, message.msg);
  },
  read(r, header) {
    return { kind: 'success', id: header.id, tag: header.tag & ~REPLY_BIT, msg: readOptionalMessage(r) };
  },
};

const fail: Codec<'fail'> = {
  kind: 'fail',
  tag: undefined,
  replyTag: () => FAIL_TAG,
  write(w, message) {
    writeOptionalMessage(w, message.msg);
  },
  read(r, header) {
    return { kind: 'fail', id: header.id, msg: readOptionalMessage(r) };
  },
};

export const replyCodecs = [success, fail] as const;

/** A success reply to the request `id` tagged `tag` (the request's own tag, without the reply bit). */
export function successReply(id: bigint, tag: number, msg: string | null = null): Message {
  return { kind: 'success', id, tag, msg };
}

export function failReply(id: bigint, msg: string | null = null): Message {
  return { kind: 'fail', id, msg };
}
