// FreeBSD: a process's resource usage from one kern.proc.pid sysctl, the record ps(1) and top(1) read.
#include <sys/param.h>
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/user.h>

#include <cerrno>

#include "sampler.h"

namespace vmmstats {
namespace {

uint64_t Microseconds(const struct timeval& time) {
  return static_cast<uint64_t>(time.tv_sec) * 1000000 + static_cast<uint64_t>(time.tv_usec);
}

int ReadSysctl(int* name, u_int length, void* out, size_t* size) {
  return sysctl(name, length, out, size, nullptr, 0) == 0 ? 0 : errno;
}

}  // namespace

int SampleProcess(pid_t pid, ProcessUsage* out) {
  int process_name[] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  struct kinfo_proc process;
  size_t size = sizeof process;
  if (int error = ReadSysctl(process_name, nitems(process_name), &process, &size)) return error;
  // The kernel answers a pid it cannot show with ESRCH; an empty answer means the same.
  if (size < sizeof process) return ESRCH;

  // ki_start is the boot-relative start time plus the current boot time, which moves whenever the clock is
  // stepped; taking the boot time off again leaves a value fixed for the life of the process.
  int boot_name[] = {CTL_KERN, KERN_BOOTTIME};
  struct timeval boot;
  size = sizeof boot;
  if (int error = ReadSysctl(boot_name, nitems(boot_name), &boot, &size)) return error;

  const struct rusage& usage = process.ki_rusage;
  *out = ProcessUsage{
      static_cast<uint64_t>(usage.ru_utime.tv_sec), static_cast<uint64_t>(usage.ru_utime.tv_usec),
      static_cast<uint64_t>(usage.ru_stime.tv_sec), static_cast<uint64_t>(usage.ru_stime.tv_usec),
      static_cast<uint64_t>(usage.ru_maxrss),       static_cast<uint64_t>(usage.ru_ixrss),
      static_cast<uint64_t>(usage.ru_idrss),        static_cast<uint64_t>(usage.ru_isrss),
      static_cast<uint64_t>(usage.ru_minflt),       static_cast<uint64_t>(usage.ru_majflt),
      static_cast<uint64_t>(usage.ru_nswap),        static_cast<uint64_t>(usage.ru_inblock),
      static_cast<uint64_t>(usage.ru_oublock),      static_cast<uint64_t>(usage.ru_msgsnd),
      static_cast<uint64_t>(usage.ru_msgrcv),       static_cast<uint64_t>(usage.ru_nsignals),
      static_cast<uint64_t>(usage.ru_nvcsw),        static_cast<uint64_t>(usage.ru_nivcsw),
      Microseconds(process.ki_start) - Microseconds(boot),
  };
  return 0;
}

// kern.proc.pid answers one pid per sysctl: there is nothing to batch.
void SampleProcesses(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  for (size_t i = 0; i < count; i++) errors[i] = SampleProcess(pids[i], &out[i]);
}

}  // namespace vmmstats
