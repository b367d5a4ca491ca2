// Linux: SO_PEERCRED, the credentials of the peer at connect(2).
#include <sys/socket.h>

#include <cerrno>

#include "host.h"

namespace vmmstats {

int GetPeerCredentials(int fd, PeerCredentials* out) {
  struct ucred credentials {};
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return errno;
  out->uid = credentials.uid;
  out->gid = credentials.gid;
  out->pid = credentials.pid;
  return 0;
}

}  // namespace vmmstats
