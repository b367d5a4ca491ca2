// Linux/KVM: a VM's statistics, found from the VMM's pid. Two sources give the same counters by the same
// names: the KVM statistics fds the VMM keeps open, copied with pidfd_getfd (kvm_stats_linux.cc, which says
// why a copy of the VM's own fd will not do), and debugfs, the files kvm_stat reads. The statistics fds
// come first: they are cheaper and work under kernel lockdown, which refuses debugfs. Debugfs is the
// fallback wherever those cannot be had: a VMM that keeps none (solo5-hvt; any VMM on a kernel before 5.14),
// a VMM whose descriptors we may not take, and a process with no KVM descriptor at all, which is how the
// tests point the reader at a debugfs tree of their own. So an explicit debugfs root does not bypass the
// statistics fds: a VMM that keeps them is read through them wherever its debugfs may be.
//
// Debugfs: <root>/<pid>-<fd>/<name>, one decimal integer each. KVM makes one such directory per VM a
// process creates; a process's VMs are summed. The files of a VM's directory are its VM-wide statistics
// and, for each vCPU statistic, the sum over its vCPUs; the vcpuN subdirectories hold per-vCPU state rather
// than counters and are skipped, and so is any file that is not a single integer (x86's mmu_rmaps_stat
// table).
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

#include "kvm_stats_linux.h"
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
  // Under lockdown the read-only files (pages_4k, blocking) can be read and the others (exits) cannot:
  // what is left would pass for the whole list.
  if (refused != 0) return refused;
  // No counter yet: KVM is still filling the directory in.
  return names->empty() ? ENOENT : 0;
}

int OpenDebugfsDevice(const VmmTarget& target, std::unique_ptr<VmmDevice>* out) {
  if (target.debugfs_root.empty()) return EINVAL;
  std::vector<UniqueFd> vms;
  if (int error = OpenVms(target.debugfs_root, target.pid, &vms)) return error;
  std::vector<std::string> names;
  if (int error = ListCounters(vms.front().get(), &names)) return error;
  *out = std::make_unique<DebugfsVmmDevice>(std::move(vms), std::move(names));
  return 0;
}

// What to answer when neither source opened, from what each said.
int MoreTelling(int stats, int debugfs) {
  switch (stats) {
    case ENOENT:  // we saw the process's descriptors: it has no VM (yet)
    case EACCES:  // we may not look into the process, and debugfs did not help either
      return stats;
    case ENODATA:  // a VM but no statistics fd: debugfs refusing says more, debugfs lacking it less
      return debugfs == ENOENT ? stats : debugfs;
    case ESRCH:   // no such process: debugfs may still know the pid, from a tree of its own
    case ENOSYS:  // no pidfd_open or pidfd_getfd (before Linux 5.6)
    case EINVAL:  // a thread's id: pidfd_open takes processes only
      return debugfs;
    default:
      return stats;
  }
}

}  // namespace

int OpenVmmDevice(const VmmTarget& target, std::unique_ptr<VmmDevice>* out) {
  const int stats = OpenKvmStatsDevice(target.pid, out);
  if (stats == 0) return 0;
  const int debugfs = OpenDebugfsDevice(target, out);
  return debugfs == 0 ? 0 : MoreTelling(stats, debugfs);
}

}  // namespace vmmstats
