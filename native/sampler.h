// The one interface between the N-API glue (addon.cc) and each platform's readers
// (*_linux.cc, *_freebsd.cc). Every function returns 0 or an errno value; nothing here throws.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vmmstats {

// The seed's rusage record, in its field order, then the process's start time.
// The glue copies it field by field into a BigUint64Array row, so the order is the JS layout too: that of
// src/wire/layouts.ts, which addon.cc's field-name lists and the sampler's check at load hold it to.
struct ProcessUsage {
  uint64_t utime_sec;
  uint64_t utime_usec;
  uint64_t stime_sec;
  uint64_t stime_usec;
  uint64_t maxrss;  // KiB, as getrusage reports it
  uint64_t ixrss;
  uint64_t idrss;
  uint64_t isrss;
  uint64_t minflt;
  uint64_t majflt;
  uint64_t nswap;
  uint64_t inblock;
  uint64_t outblock;
  uint64_t msgsnd;
  uint64_t msgrcv;
  uint64_t nsignals;
  uint64_t nvcsw;
  uint64_t nivcsw;
  // Opaque, only ever compared for equality: tells a reused pid from the process first seen.
  uint64_t start_time;
};
constexpr size_t kProcessUsageFields = sizeof(ProcessUsage) / sizeof(uint64_t);

// One pid, as SampleProcessesOnce.
int SampleProcess(pid_t pid, ProcessUsage* out);
// Many pids in one call, so that a platform can batch its kernel requests: fills out[i] and errors[i]
// (0 or an errno) for each pid. For the ticks: what a platform keeps between calls to make the next one
// cheaper (Linux: each pid's open /proc files) is kept once for all of them, whichever thread calls; calls
// come one at a time.
void SampleProcesses(const pid_t* pids, size_t count, ProcessUsage* out, int* errors);
// The same for a one-off question (a registration's check, a command), from the calling thread: it keeps
// nothing of the pids it asked about, so that ten thousand registrations hold no descriptors after.
void SampleProcessesOnce(const pid_t* pids, size_t count, ProcessUsage* out, int* errors);
// Only what tells a process from a later one under its pid (ProcessUsage::start_time), for many pids: what
// a registration checks, for a fraction of a whole sample's cost. Keeps nothing; from the calling thread.
void ProcessStartTimes(const pid_t* pids, size_t count, uint64_t* start_times, int* errors);

// The seed's ifdata record without its name, in its field order (src/wire/layouts.ts, checked as above).
struct InterfaceCounters {
  uint64_t flags;
  uint64_t send_length;
  uint64_t max_send_length;
  uint64_t send_drops;
  uint64_t mtu;
  uint64_t baudrate;
  uint64_t input_packets;
  uint64_t input_errors;
  uint64_t output_packets;
  uint64_t output_errors;
  uint64_t collisions;
  uint64_t input_bytes;
  uint64_t output_bytes;
  uint64_t input_mcast;
  uint64_t output_mcast;
  uint64_t input_dropped;
  uint64_t output_dropped;
};
constexpr size_t kInterfaceFields = sizeof(InterfaceCounters) / sizeof(uint64_t);

// Reads many interfaces in one call; a platform may keep state (a netlink socket) between calls.
class InterfaceSampler {
 public:
  virtual ~InterfaceSampler() = default;
  // Fills out[i] and errors[i] (0, or ENODEV for an interface that does not exist) for each name.
  // Returns non-zero only when nothing could be read at all.
  virtual int Sample(const std::vector<std::string>& names, InterfaceCounters* out, int* errors) = 0;
};

int CreateInterfaceSampler(std::unique_ptr<InterfaceSampler>* out);

using VmmCounterList = std::vector<std::pair<std::string, uint64_t>>;

// What identifies a VM to the hypervisor: FreeBSD opens /dev/vmm/<device_name>; Linux finds the KVM
// statistics fds of the VMM's pid, or else <debugfs_root>/<pid>-<fd>/.
struct VmmTarget {
  pid_t pid;
  std::string device_name;
  std::string debugfs_root;
};

class VmmDevice {
 public:
  virtual ~VmmDevice() = default;
  virtual int Read(VmmCounterList* out) = 0;
};

// ENOENT when the VM is not (yet) there, and VmmDevice::Read's ENOENT once it is gone, so that a caller can
// reopen later: a platform maps its own answers for a VM that went away (FreeBSD's ENXIO) to ENOENT.
int OpenVmmDevice(const VmmTarget& target, std::unique_ptr<VmmDevice>* out);

}  // namespace vmmstats
