// FreeBSD: getpeereid(3), which reads the peer's credentials recorded at connect(2) (LOCAL_PEERCRED).
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

}  // namespace vmmstats
