// What the daemon asks of the host beyond the samples: who is on the other end of a Unix socket, and how
// many files it may open. Every function returns 0 or an errno value.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace vmmstats {

// The effective user and group, and the pid, of the process that connected a Unix stream socket, as the
// kernel recorded them at connect(2): they cannot be forged by the peer.
struct PeerCredentials {
  uid_t uid;
  gid_t gid;
  pid_t pid;
};

int GetPeerCredentials(int fd, PeerCredentials* out);

struct OpenFilesLimit {
  uint64_t soft;
  uint64_t hard;
};

// Raises the soft RLIMIT_NOFILE to the hard one, so that the daemon's own connection limit binds before
// EMFILE does; `out` is the limit in force afterwards (also when raising it failed).
int RaiseOpenFilesLimit(OpenFilesLimit* out);

}  // namespace vmmstats
