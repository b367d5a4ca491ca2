// FreeBSD: LOCAL_PEERCRED, the credentials of the peer at connect(2) (what getpeereid(3) reads, plus the pid:
// xucred.cr_pid, FreeBSD 13 and later).
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/ucred.h>
#include <sys/un.h>

#include <cerrno>

#include "host.h"

namespace vmmstats {

int GetPeerCredentials(int fd, PeerCredentials* out) {
  struct xucred credentials {};
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &credentials, &length) != 0) return errno;
  if (credentials.cr_version != XUCRED_VERSION) return EPROTONOSUPPORT;
  out->uid = credentials.cr_uid;
  out->gid = credentials.cr_gid;
  out->pid = credentials.cr_pid;
  return 0;
}

}  // namespace vmmstats
