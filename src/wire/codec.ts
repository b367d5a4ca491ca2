// What each message kind contributes to the serializer and the parser: its tag, how its payload is written
// and how it is read back. The channel modules (console, stats, log, vm, replies) each export theirs.

import type { Reader } from './buffer-reader.js';
import type { Writer } from './buffer-writer.js';
import type { Header, Message, MessageKind, VmName } from './messages.js';

type MessageOf<K extends MessageKind> = Extract<Message, { kind: K }>;

export interface Codec<K extends MessageKind = MessageKind> {
  readonly kind: K;
  /** A request's fixed tag; a reply's tag comes from the message (`replyTag`). */
  readonly tag: number | undefined;
  replyTag?(message: MessageOf<K>): number;
  /** Writes the payload: for requests the VM name, then the body. */
  write(w: Writer, message: MessageOf<K>): void;
  /** Reads the payload of a frame whose header is `header`. */
  read(r: Reader, header: Header): MessageOf<K>;
}

type NameOnlyKind = {
  [K in MessageKind]: Exclude<keyof MessageOf<K>, 'kind' | 'id' | 'name'> extends never ? K : never;
}[MessageKind];

/** A request whose payload is the VM name alone. */
export function nameOnly<K extends NameOnlyKind>(kind: K, tag: number): Codec<K> {
  return {
    kind,
    tag,
    write(w, message: { name: VmName }) {
      w.strings(message.name);
    },
    read(r, header) {
      return { kind, id: header.id, name: r.strings() } as MessageOf<K>;
    },
  };
}

/** A codec of any kind, as the serializer's and the parser's tables hold them. */
export type AnyCodec = Codec<MessageKind>;

