// FreeBSD on an architecture this addon does not read bhyve on (binding.gyp builds vmm_freebsd.cc for x64
// only, where libvmmapi and <vmmapi.h> are built with bhyve): no VM has hypervisor counters, and the caller
// reports it as on a Linux host without KVM, once per VM. Process and tap counters are read all the same.
#include <cerrno>

#include "sampler.h"

namespace vmmstats {

int OpenVmmDevice(const VmmTarget&, std::unique_ptr<VmmDevice>*) { return ENOTSUP; }

}  // namespace vmmstats
