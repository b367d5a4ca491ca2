// FreeBSD: a bhyve or solo5-hvt VM's vmm(4) counters for vCPU 0 through libvmmapi, as bhyvectl --get-stats
// reads them.
#include <sys/param.h>
#include <sys/types.h>

#include <machine/vmm.h>  // FreeBSD 10's vmmapi.h uses its types without including it
#include <unistd.h>
#include <vmmapi.h>

#include <cerrno>
#include <cstdlib>

#include "sampler.h"

// libvmmapi 2.0 (VMMAPI_VERSION 0200, FreeBSD 14) names a vCPU by a handle from vm_vcpu_open where 1.x took the
// VM and a vCPU number. __FreeBSD_version was not bumped with it: 14-CURRENT at 1400084 may have either API,
// 1400085 and every 14 release have 2.0. VMMAPI_VERSION exists for this choice, so the code tests it.
#define VMMSTATS_VCPU_HANDLES (VMMAPI_VERSION >= 0200)

namespace vmmstats {
namespace {

int ErrnoOr(int fallback) { return errno != 0 ? errno : fallback; }

class BhyveDevice : public VmmDevice {
 public:
#if VMMSTATS_VCPU_HANDLES
  BhyveDevice(struct vmctx* vm, struct vcpu* vcpu) : vm_(vm), vcpu_(vcpu) {}
  ~BhyveDevice() override {
    vm_vcpu_close(vcpu_);
    vm_close(vm_);
  }
#else
  explicit BhyveDevice(struct vmctx* vm) : vm_(vm) {}
  ~BhyveDevice() override {
#if __FreeBSD_version >= 1300000
    // libvmmapi 1.x lacks vm_close before 13.x; its vmctx is one allocation that owns the device descriptor.
    close(vm_get_device_fd(vm_));
    free(vm_);
#endif
  }
#endif

  // libvmmapi returns the counters in a static buffer (per thread only since 2.0): on 13, Read must not run
  // on two threads at once.
  int Read(VmmCounterList* out) override {
    int count = 0;
    errno = 0;
#if VMMSTATS_VCPU_HANDLES
    const uint64_t* values = vm_get_stats(vcpu_, nullptr, &count);
#else
    const uint64_t* values = vm_get_stats(vm_, 0, nullptr, &count);
#endif
    if (values == nullptr) return ErrnoOr(EIO);
    if (descriptions_.size() != static_cast<size_t>(count)) {
      if (int error = LoadDescriptions(count)) return error;
    }
    out->clear();
    out->reserve(count);
    for (int i = 0; i < count; i++) out->emplace_back(descriptions_[i], values[i]);
    return 0;
  }

 private:
  // The kernel's table of counter descriptions is fixed while vmm(4) is loaded, so each device asks once
  // rather than with one ioctl per counter per read.
  int LoadDescriptions(int count) {
    descriptions_.clear();
    for (int i = 0; i < count; i++) {
      const char* description = vm_get_stat_desc(vm_, i);
      if (description == nullptr) {
        descriptions_.clear();
        return ErrnoOr(EIO);
      }
      descriptions_.emplace_back(description);
    }
    return 0;
  }

  struct vmctx* vm_;
#if VMMSTATS_VCPU_HANDLES
  struct vcpu* vcpu_;
#endif
  std::vector<std::string> descriptions_;
};

}  // namespace

int OpenVmmDevice(const VmmTarget& target, std::unique_ptr<VmmDevice>* out) {
#if !VMMSTATS_VCPU_HANDLES && __FreeBSD_version < 1300000
  // FreeBSD 10's libvmmapi has neither vm_close nor vm_get_device_fd: it cannot let go of a VM without
  // destroying it. 13 is the oldest release supported here.
  return ENOTSUP;
#endif
  const std::string name =
      target.device_name.empty() ? "solo5-" + std::to_string(target.pid) : target.device_name;
  // Asked first because libvmmapi 1.x's vm_open answers a missing device by calling vm_destroy, whose sysctl
  // then overwrites errno; the caller needs a plain ENOENT to retry later.
  if (access(("/dev/vmm/" + name).c_str(), F_OK) != 0) return errno;
  errno = 0;
  struct vmctx* vm = vm_open(name.c_str());
  if (vm == nullptr) return ErrnoOr(EIO);
#if VMMSTATS_VCPU_HANDLES
  errno = 0;
  struct vcpu* vcpu = vm_vcpu_open(vm, 0);
  if (vcpu == nullptr) {
    int error = ErrnoOr(ENOMEM);
    vm_close(vm);
    return error;
  }
  out->reset(new BhyveDevice(vm, vcpu));
#else
  out->reset(new BhyveDevice(vm));
#endif
  return 0;
}

}  // namespace vmmstats
