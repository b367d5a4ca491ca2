// FreeBSD/amd64: a bhyve or solo5-hvt VM's vmm(4) counters through libvmmapi, as bhyvectl --get-stats reads
// them, each summed over the VM's vCPUs. binding.gyp builds this file for x64 only, the one
// architecture this addon reads bhyve on; vmm_unsupported_freebsd.cc stands in elsewhere.
#include <sys/param.h>
#include <sys/types.h>

#include <machine/vmm.h>  // VM_MAX_NAMELEN
#include <vmmapi.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "freebsd_logic.h"
#include "sampler.h"

// libvmmapi 2.0 (VMMAPI_VERSION 0200, FreeBSD 14) names a vCPU by a handle from vm_vcpu_open where 1.x took the
// VM and a vCPU number. __FreeBSD_version was not bumped with it: 14-CURRENT at 1400084 may have either API,
// 1400085 and every 14 release have 2.0. VMMAPI_VERSION exists for this choice, so the code tests it.
#define VMMSTATS_VCPU_HANDLES (VMMAPI_VERSION >= 0200)

#if __FreeBSD_version < 1300000
#error "hypervisor counters need FreeBSD 13 or later: older libvmmapi has no vm_close, and its vm_open destroys a VM it fails to open"
#endif

namespace vmmstats {
namespace {

int ErrnoOr(int fallback) { return errno != 0 ? errno : fallback; }

#if VMMSTATS_VCPU_HANDLES
using VcpuRef = struct vcpu*;
#else
using VcpuRef = int;
#endif

class BhyveDevice : public VmmDevice {
 public:
  BhyveDevice(struct vmctx* vm, std::vector<VcpuRef> vcpus) : vm_(vm), vcpus_(std::move(vcpus)) {}
  ~BhyveDevice() override {
#if VMMSTATS_VCPU_HANDLES
    for (struct vcpu* vcpu : vcpus_) vm_vcpu_close(vcpu);
#endif
    vm_close(vm_);
  }

  // One VM_STATS ioctl per vCPU per read. FreeBSD 15's vmm(4) freezes the vCPU for it, forcing an exit of
  // a running guest each time; 13 and 14 read the counters without stopping the vCPU. libvmmapi returns the
  // counters in a static buffer (per thread only since 2.0): on 13, Read must not run on two threads at once.
  int Read(VmmCounterList* out) override {
    auto read = [this](size_t i, const uint64_t** values, int* count) { return ReadVcpu(vcpus_[i], values, count); };
    if (int error = SumOverVcpus(vcpus_.size(), read, &totals_)) return VmGoneAsEnoent(error);
    if (descriptions_.size() != totals_.size()) {
      if (int error = LoadDescriptions(totals_.size())) return VmGoneAsEnoent(error);
    }
    out->clear();
    out->reserve(totals_.size());
    for (size_t i = 0; i < totals_.size(); i++) out->emplace_back(descriptions_[i], totals_[i]);
    return 0;
  }

 private:
  int ReadVcpu(VcpuRef vcpu, const uint64_t** values, int* count) {
    errno = 0;
#if VMMSTATS_VCPU_HANDLES
    *values = vm_get_stats(vcpu, nullptr, count);
#else
    *values = vm_get_stats(vm_, vcpu, nullptr, count);
#endif
    return *values == nullptr ? ErrnoOr(EIO) : 0;
  }

  // The kernel's table of counter descriptions is fixed while vmm(4) is loaded, so each device asks once
  // rather than with one ioctl per counter per read.
  int LoadDescriptions(size_t count) {
    descriptions_.clear();
    for (size_t i = 0; i < count; i++) {
      errno = 0;
      const char* description = vm_get_stat_desc(vm_, static_cast<int>(i));
      if (description == nullptr) {
        descriptions_.clear();
        return ErrnoOr(EIO);
      }
      descriptions_.emplace_back(description);
    }
    return 0;
  }

  struct vmctx* vm_;
  const std::vector<VcpuRef> vcpus_;
  std::vector<uint64_t> totals_;
  std::vector<std::string> descriptions_;
};

// The guest's vCPUs, from its topology, read once: it is set when the VM is made and never changes. Not
// vm_active_cpus: FreeBSD 13's bhyve activates an AP only when the guest starts it, while vmm(4) keeps every
// vCPU's counters from the VM's creation on (zero until it runs).
int OpenVcpus(struct vmctx* vm, std::vector<VcpuRef>* vcpus) {
  uint16_t sockets = 0, cores = 0, threads = 0, maxcpus = 0;
  errno = 0;
  if (vm_get_topology(vm, &sockets, &cores, &threads, &maxcpus) != 0) return ErrnoOr(EIO);
  std::vector<int> ids;
  if (int error = GuestVcpus(sockets, cores, threads, maxcpus, &ids)) return error;
#if VMMSTATS_VCPU_HANDLES
  for (int id : ids) {
    errno = 0;
    struct vcpu* vcpu = vm_vcpu_open(vm, id);
    if (vcpu == nullptr) {
      const int error = ErrnoOr(ENOMEM);
      for (struct vcpu* opened : *vcpus) vm_vcpu_close(opened);
      vcpus->clear();
      return error;
    }
    vcpus->push_back(vcpu);
  }
#else
  vcpus->assign(ids.begin(), ids.end());
#endif
  return 0;
}

}  // namespace

int OpenVmmDevice(const VmmTarget& target, std::unique_ptr<VmmDevice>* out) {
  const std::string name = VmmDeviceName(target.device_name, target.pid);
  if (int error = CheckVmmDeviceName(name, VM_MAX_NAMELEN)) return error;
  // Since 13 a vm_open that fails frees its context and returns with open(2)'s errno: ENOENT for a VM that is
  // not there (yet), which the caller retries.
  errno = 0;
  struct vmctx* vm = vm_open(name.c_str());
  if (vm == nullptr) return VmGoneAsEnoent(ErrnoOr(EIO));
  std::vector<VcpuRef> vcpus;
  if (int error = OpenVcpus(vm, &vcpus)) {
    vm_close(vm);
    return VmGoneAsEnoent(error);
  }
  out->reset(new BhyveDevice(vm, std::move(vcpus)));
  return 0;
}

}  // namespace vmmstats
