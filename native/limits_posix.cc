// RLIMIT_NOFILE is the same POSIX call on Linux and FreeBSD.
#include <sys/resource.h>

#include <cerrno>

#include "host.h"

namespace vmmstats {

int RaiseOpenFilesLimit(OpenFilesLimit* out) {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return errno;
  int error = 0;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    else error = errno;
  }
  out->soft = static_cast<uint64_t>(limit.rlim_cur);
  out->hard = static_cast<uint64_t>(limit.rlim_max);
  return error;
}

}  // namespace vmmstats
