// Linux/KVM: a VM's statistics from debugfs, the files kvm_stat reads: <root>/<pid>-<fd>/<name>, one decimal
// integer each. KVM makes one such directory per VM a process creates; a process's VMs are summed. The
// files of a VM's directory are its VM-wide statistics and, for each vCPU statistic, the sum over its
// vCPUs; the vcpuN subdirectories hold per-vCPU state rather than counters and are skipped, and so is any
// file that is not a single integer (x86's mmu_rmaps_stat table).
//
// The binary statistics interface (KVM_GET_STATS_FD) would be cheaper, but it is an ioctl on the VM's file
// descriptor, which only the VMM holds.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "netlink_linux.h"
#include "sampler.h"

namespace vmmstats {
namespace {

int ReadCounter(int directory, const char* name, uint64_t* value) {
  UniqueFd fd(openat(directory, name, O_RDONLY | O_CLOEXEC));
  if (!fd) return errno;
  char text[32];
  ssize_t length;
  do {
    length = read(fd.get(), text, sizeof text - 1);
  } while (length < 0 && errno == EINTR);
  if (length < 0) return errno;
  text[length] = '\0';
  if (!std::isdigit(static_cast<unsigned char>(text[0]))) return EPROTO;
  char* end = nullptr;
  *value = std::strtoull(text, &end, 10);
  return *end == '\0' || *end == '\n' ? 0 : EPROTO;
}

// Whether name is "<pid>-<fd>" for this pid.
bool IsVmOf(pid_t pid, const char* name) {
  const std::string prefix = std::to_string(pid) + "-";
  if (std::strncmp(name, prefix.c_str(), prefix.size()) != 0) return false;
  const char* fd = name + prefix.size();
  return *fd != '\0' && std::all_of(fd, fd + std::strlen(fd), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool IsRegularFile(int directory, const dirent* entry) {
  if (entry->d_type != DT_UNKNOWN) return entry->d_type == DT_REG;
  struct stat status;
  return fstatat(directory, entry->d_name, &status, 0) == 0 && S_ISREG(status.st_mode);
}

class DebugfsVmmDevice : public VmmDevice {
 public:
  DebugfsVmmDevice(std::vector<UniqueFd> vms, std::vector<std::string> names)
      : vms_(std::move(vms)), names_(std::move(names)) {}

  // ENOENT once the VM is gone: KVM removes its directory, and a removed directory has no files.
  int Read(VmmCounterList* out) override {
    out->clear();
    out->reserve(names_.size());
    for (const std::string& name : names_) {
      uint64_t total = 0;
      for (const UniqueFd& vm : vms_) {
        uint64_t value = 0;
        if (int error = ReadCounter(vm.get(), name.c_str(), &value)) return error;
        total += value;
      }
      out->emplace_back(name, total);
    }
    return 0;
  }

 private:
  std::vector<UniqueFd> vms_;
  std::vector<std::string> names_;
};

// The <pid>-<fd> directories of the process under root.
int OpenVms(const std::string& root, pid_t pid, std::vector<UniqueFd>* vms) {
  DIR* listing = opendir(root.c_str());
  if (listing == nullptr) return errno;
  int error = 0;
  while (const dirent* entry = readdir(listing)) {
    if (!IsVmOf(pid, entry->d_name)) continue;
    UniqueFd vm(openat(dirfd(listing), entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!vm) {
      error = errno;
      break;
    }
    vms->push_back(std::move(vm));
  }
  closedir(listing);
  if (error != 0) return error;
  return vms->empty() ? ENOENT : 0;
}

// The files of a VM's directory that read as one integer, sorted by name.
int ListCounters(int vm, std::vector<std::string>* names) {
  DIR* listing = fdopendir(openat(vm, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (listing == nullptr) return errno;
  int refused = 0;
  while (const dirent* entry = readdir(listing)) {
    if (!IsRegularFile(vm, entry)) continue;
    uint64_t value = 0;
    int error = ReadCounter(vm, entry->d_name, &value);
    if (error == 0) names->emplace_back(entry->d_name);
    if (error == EACCES || error == EPERM) refused = EACCES;
  }
  closedir(listing);
  std::sort(names->begin(), names->end());
  // No counter yet: either KVM is still filling the directory in, or none may be read.
  if (names->empty()) return refused != 0 ? refused : ENOENT;
  return 0;
}

}  // namespace

int OpenVmmDevice(const VmmTarget& target, std::unique_ptr<VmmDevice>* out) {
  if (target.debugfs_root.empty()) return EINVAL;
  std::vector<UniqueFd> vms;
  if (int error = OpenVms(target.debugfs_root, target.pid, &vms)) return error;
  std::vector<std::string> names;
  if (int error = ListCounters(vms.front().get(), &names)) return error;
  *out = std::make_unique<DebugfsVmmDevice>(std::move(vms), std::move(names));
  return 0;
}

}  // namespace vmmstats
