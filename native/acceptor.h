// The daemon's listening Unix socket, accepted on a thread of its own and handed to JavaScript in batches.
//
// libuv accepts in a loop until the backlog is empty, calling JavaScript for every connection: while a crowd
// keeps connecting, the event loop never gets to read the connections it accepted, and a new client waits
// behind the whole crowd. Here a thread accepts as they come, and JavaScript takes a batch per turn of its
// event loop, one connection of each connecting process in turn: a process that opens thousands delays
// another's connection by one batch, not by its thousands.
#pragma once

#include <napi.h>

namespace vmmstats {

// listenUnix(path, backlog): { fd } | errno; Acceptor(fd, perBatch, onBatch(connections, errno)), next(), close().
// Each connection comes with its peer's credentials (host.h), read once, on the accepting thread.
void RegisterAcceptor(Napi::Env env, Napi::Object exports);

}  // namespace vmmstats
