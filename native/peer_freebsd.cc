// FreeBSD: getpeereid(3), which reads the peer's credentials recorded at connect(2) (LOCAL_PEERCRED), and
// LOCAL_PEERCRED itself for the pid (xucred.cr_pid, FreeBSD 13 and later).
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/ucred.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "host.h"

namespace vmmstats {

int GetPeerCredentials(int fd, PeerCredentials* out) {
  uid_t uid;
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) != 0) return errno;
  out->uid = uid;
  out->gid = gid;
  return 0;
}

int GetPeerProcess(int fd, pid_t* out) {
  struct xucred credentials {};
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &credentials, &length) != 0) return errno;
  if (credentials.cr_version != XUCRED_VERSION) return EPROTONOSUPPORT;
  *out = credentials.cr_pid;
  return 0;
}

}  // namespace vmmstats
