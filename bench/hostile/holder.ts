// A crowd of clients in a process of its own (so that the harness's own descriptors do not bound it):
// opens COUNT connections to SOCKET, each idle or, with --half-open, having sent the first bytes of a
// frame, prints "ready OPENED REFUSED" once all are settled, and holds them until its stdin closes.
// Connections the daemon refused (closed at once) are counted apart.
//   node --import tsx bench/hostile/holder.ts SOCKET COUNT [--half-open]
import { createConnection, type Socket } from 'node:net';

const [socketPath, countText, mode] = process.argv.slice(2);
const count = Number(countText);
/** Ten bytes of a header: the daemon waits for the other ten. */
const PARTIAL_HEADER = Buffer.from('00000202000200000000', 'hex');
const BATCH = 500;

function open(): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath!);
    socket.on('data', () => {}); // a refusal frame; read so that the close is seen
    socket.once('close', () => socket.destroy());
    socket.once('connect', () => {
      if (mode === '--half-open') socket.write(PARTIAL_HEADER);
      resolve(socket);
    });
    socket.once('error', () => resolve(undefined));
    socket.on('error', () => {});
  });
}

const sockets: Socket[] = [];
let refused = 0;
// In batches: a burst of thousands of connects at once overflows the listen backlog.
for (let started = 0; started < count; started += BATCH) {
  const batch = await Promise.all(Array.from({ length: Math.min(BATCH, count - started) }, open));
  for (const socket of batch) if (socket) sockets.push(socket);
  else refused++;
}
// A daemon at its connection limit accepts, sends one failure frame and closes: give it the time to.
await new Promise((resolve) => setTimeout(resolve, 500));
const stillOpen = sockets.filter((socket) => !socket.destroyed && socket.readyState === 'open');
process.stdout.write(`ready ${stillOpen.length} ${refused + sockets.length - stillOpen.length}\n`);
process.stdin.resume();
process.stdin.once('end', () => {
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
