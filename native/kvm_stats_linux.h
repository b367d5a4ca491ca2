// KVM's binary statistics of a process's VMs (kvm_stats_linux.cc), the source vmm_linux.cc tries first.
#pragma once

#include <sys/types.h>

#include <memory>

#include "sampler.h"

namespace vmmstats {

// 0 or an errno: ENOENT when the process has no VM (yet); ENODATA when it has one but keeps no statistics
// fd open; ESRCH when there is no such process; EACCES when its file descriptors may not be taken; ENOSYS
// when this kernel lacks pidfd_getfd. The device's Read() answers ENOENT once the process has exited.
int OpenKvmStatsDevice(pid_t pid, std::unique_ptr<VmmDevice>* out);

}  // namespace vmmstats
