// FreeBSD: a process's resource usage from one kern.proc.pid sysctl, the record ps(1) and top(1) read.
#include <sys/param.h>
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/user.h>

#include <cerrno>

#include "freebsd_logic.h"
#include "sampler.h"
#include <vector>

namespace vmmstats {
namespace {

uint64_t Microseconds(const struct timeval& time) {
  return static_cast<uint64_t>(time.tv_sec) * 1000000 + static_cast<uint64_t>(time.tv_usec);
}

int ReadSysctl(int* name, u_int length, void* out, size_t* size) {
  return sysctl(name, length, out, size, nullptr, 0) == 0 ? 0 : errno;
}

int ReadBootTime(uint64_t* boot_time) {
  int name[] = {CTL_KERN, KERN_BOOTTIME};
  struct timeval boot;
  size_t size = sizeof boot;
  if (int error = ReadSysctl(name, nitems(name), &boot, &size)) return error;
  *boot_time = Microseconds(boot);
  return 0;
}

// The usage, with start_time left as ki_start (since the epoch): the caller takes the boot time off.
int ReadProcess(pid_t pid, ProcessUsage* out) {
  int name[] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  struct kinfo_proc process;
  size_t size = sizeof process;
  if (int error = ReadSysctl(name, nitems(name), &process, &size)) return error;
  // The kernel answers a pid it cannot show with ESRCH; an empty answer means the same.
  if (size < sizeof process) return ESRCH;

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
      Microseconds(process.ki_start),
  };
  return 0;
}

}  // namespace

int SampleProcess(pid_t pid, ProcessUsage* out) {
  int error = 0;
  SampleProcessesOnce(&pid, 1, out, &error);
  return error;
}

// Nothing is kept between calls here: a one-off question is answered as a tick's.
void SampleProcessesOnce(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  SampleProcesses(pids, count, out, errors);
}

// kern.proc.pid gives the start time with the rest of the record: nothing cheaper to ask for.
void ProcessStartTimes(const pid_t* pids, size_t count, uint64_t* start_times, int* errors) {
  std::vector<ProcessUsage> usage(count);
  SampleProcesses(pids, count, usage.data(), errors);
  for (size_t i = 0; i < count; i++) start_times[i] = errors[i] == 0 ? usage[i].start_time : 0;
}

// kern.proc.pid answers one pid per sysctl; the boot time is read once before and once after them all, so
// that a tick costs two sysctls more, not two per pid. ki_start minus that boot time is the boot-relative
// start, fixed for the life of the process even when the clock is stepped.
void SampleProcesses(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  uint64_t boot_time = 0;
  const int error = ReadAtSteadyBootTime(ReadBootTime, [&] {
    for (size_t i = 0; i < count; i++) errors[i] = ReadProcess(pids[i], &out[i]);
  }, &boot_time);
  for (size_t i = 0; i < count; i++) {
    if (error != 0) errors[i] = error;
    if (errors[i] == 0) out[i].start_time -= boot_time;
  }
}

}  // namespace vmmstats
