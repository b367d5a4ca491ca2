// The table of every message kind's codec, by kind for the serializer and by tag for the parser.

import type { AnyCodec } from './codec.js';
import { consoleCodecs } from './console.js';
import { logCodecs } from './log.js';
import type { MessageKind } from './messages.js';
import { replyCodecs } from './replies.js';
import { statsCodecs } from './stats.js';
import { vmCodecs } from './vm.js';

// Each codec only ever meets messages of its own kind: the serializer looks it up by message.kind and the
// parser by tag. That pairing is what makes this one cast sound.
const codecs = [...consoleCodecs, ...statsCodecs, ...logCodecs, ...vmCodecs, ...replyCodecs] as unknown as readonly AnyCodec[];

export const codecsByKind: ReadonlyMap<MessageKind, AnyCodec> = new Map(codecs.map((codec) => [codec.kind, codec]));

/** Requests, whose tag is fixed; replies are recognised by their tag's bits. */
export const requestCodecsByTag: ReadonlyMap<number, AnyCodec> = new Map(
  codecs.flatMap((codec) => (codec.tag === undefined ? [] : [[codec.tag, codec] as const])),
);

export function codecOfKind(kind: MessageKind): AnyCodec {
  return codecsByKind.get(kind)!;
}
