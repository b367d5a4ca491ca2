// The Console channel: attaching to a VM's console, and the console lines it sends.

import { nameOnly, type Codec } from './codec.js';
import { Tag } from './tags.js';

const data: Codec<'console.data'> = {
  kind: 'console.data',
  tag: Tag.ConsoleData,
  write(w, message) {
    w.strings(message.name);
    w.ptime(message.ts);
    w.string(message.msg);
  },
  read(r, header) {
    // Property initialisers run in source order, which is the wire order.
    return { kind: 'console.data', id: header.id, name: r.strings(), ts: r.ptime(), msg: r.string() };
  },
};

export const consoleCodecs = [
  nameOnly('console.add', Tag.ConsoleAdd),
  nameOnly('console.attach', Tag.ConsoleAttach),
  data,
] as const;
