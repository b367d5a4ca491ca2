// What the FreeBSD readers decide without asking the kernel, as plain functions: process_freebsd.cc and
// vmm_freebsd.cc call them, and test/native/freebsd-logic.test.ts compiles this file on Linux and runs them,
// so that the part of the FreeBSD code that can be tested away from FreeBSD is. Nothing here includes a
// FreeBSD header; the kernel's limits and answers come in as arguments.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vmmstats {

// --- a process's start time ---

// How many times a batch is read again while kern.boottime keeps moving under it.
constexpr int kBootTimeAttempts = 3;

// ki_start is the process's boot-relative start plus the boot time of the moment kern.proc.pid answers, and
// the boot time moves whenever the clock is stepped. So read_batch() (the kern.proc.pid sysctls) runs between
// two reads of the boot time, and again while those differ: only when both agree is it the boot time
// read_batch()'s ki_start values were made with. Sets *boot_time to it, in microseconds since the epoch.
// Returns 0, read_boot_time's error, or EAGAIN when the clock moved at every attempt.
int ReadAtSteadyBootTime(const std::function<int(uint64_t* boot_time)>& read_boot_time,
                         const std::function<void()>& read_batch, uint64_t* boot_time);

// --- a VM's vmm(4) device ---

// The /dev/vmm name to open: the one given, else solo5-<pid>, the name solo5-hvt gives its VM.
std::string VmmDeviceName(const std::string& given, pid_t pid);

// 0 when name can name a VM under /dev/vmm; EINVAL for the empty name, ".", ".." and a name holding '/'
// (which would lead out of /dev/vmm), ENAMETOOLONG for one of max_namelen characters or more (the kernel's
// VM_MAX_NAMELEN: vm_create refuses such names, so no VM has one).
int CheckVmmDeviceName(const std::string& name, size_t max_namelen);

// sampler.h's ENOENT for a VM that is not there: a name devfs does not have answers ENOENT, and a device held
// open after its VM was destroyed answers every ioctl with ENXIO. Both mean "gone: reopen later". Any other
// error is returned as it is.
int VmGoneAsEnoent(int error);

// The vCPUs to read, from the VM's topology: the guest has sockets × cores × threads of them, numbered from 0
// (bhyve checks its -c against that product; solo5-hvt leaves vmm(4)'s default of one), never more than
// maxcpus. EPROTO for a topology without a vCPU, which vmm(4) would not have accepted.
int GuestVcpus(uint16_t sockets, uint16_t cores, uint16_t threads, uint16_t maxcpus, std::vector<int>* vcpus);

// The counters of the i-th vCPU read, as vm_get_stats returns them: *values stays valid only until the next
// call. Returns 0 or an errno.
using ReadVcpuCounters = std::function<int(size_t i, const uint64_t** values, int* count)>;

// Each counter summed over vCPUs 0 to vcpus - 1, into *totals: vmm(4) keeps every counter per vCPU, and keeps
// its VM-wide ones (resident and wired memory) on vCPU 0 only, leaving them 0 elsewhere, so the sum is right
// for both. Returns the first failed read's error, or EPROTO when two vCPUs answer different numbers of
// counters, and then leaves *totals empty.
int SumOverVcpus(size_t vcpus, const ReadVcpuCounters& read, std::vector<uint64_t>* totals);

}  // namespace vmmstats
