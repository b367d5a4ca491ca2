// Linux/KVM: a VM's statistics through KVM's binary statistics interface (Linux 5.14;
// Documentation/virt/kvm/api.rst, KVM_GET_STATS_FD). A statistics fd comes from an ioctl on a VM's or a
// vCPU's file descriptor, which only the VMM holds, and KVM answers every ioctl on those from any process
// but the VM's own with EIO (kvm->mm != current->mm), so a copy of a VM fd taken with pidfd_getfd cannot
// ask for one. A statistics fd, though, is read with pread, which KVM allows from anywhere: so we copy the
// statistics fds the VMM itself keeps open (QEMU keeps one per vCPU) with pidfd_getfd (Linux 5.6). That
// needs ptrace access to the VMM, and finding them in /proc/<pid>/fd read access to that directory: root,
// CAP_SYS_PTRACE with CAP_DAC_READ_SEARCH, or the VMM's own user where Yama allows it. Unlike debugfs this
// works under kernel lockdown. A VMM that keeps none (solo5-hvt) is left to debugfs. Our copy
// shares its file offset with the VMM's descriptor; pread leaves that alone.
//
// A statistics fd holds a reference on its VM (kvm_get_kvm), so while our copy is open KVM keeps the VM's
// state (vCPUs, page tables, its debugfs directory) even after the VMM has exited; guest memory belongs to
// the VMM's address space and goes with it. Hence Read() watches the VMM's pidfd and answers ENOENT once
// the process has exited, and the caller closes the device, which lets the VM go.
//
// The counters are what debugfs shows in the VM's directory, by the same names (KVM makes those files from
// these very descriptors): each VM-wide statistic, and each vCPU statistic summed over the vCPUs, all summed
// over the process's VMs; only those the VMM keeps a statistics fd for, so a VMM that keeps only its vCPUs'
// (QEMU) gives no VM-wide ones (pages_4k). Histograms are skipped (debugfs shows only their first bucket).
// Instant and peak values are summed like cumulative ones, because debugfs sums them so: a sum of peaks is
// no peak, but the two sources give the same numbers for the same VM. Values are raw, in the unit the name
// says (halt_wait_ns), as in debugfs. The statistics fds are those the VMM holds at open: one it opens
// later counts once the device is reopened.
#include "kvm_stats_linux.h"

#include <dirent.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "netlink_linux.h"

namespace vmmstats {
namespace {

// Headers older than the kernel may lack them; the numbers are the same on every architecture.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

// Where a descriptor's name starts in the kernel's (C) layout. <linux/kvm.h> declares the name with
// __DECLARE_FLEX_ARRAY, whose empty struct takes a byte in C++, so sizeof and offsetof(name) are off here.
constexpr size_t kDescriptorFixedBytes = offsetof(kvm_stats_desc, bucket_size) + sizeof(uint32_t);
static_assert(kDescriptorFixedBytes == 16, "kvm_stats_desc's fixed part is 16 bytes in the kernel's ABI");

int PreadAll(int fd, void* buffer, size_t length, off_t offset) {
  ssize_t got;
  do {
    got = pread(fd, buffer, length, offset);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return errno;
  return static_cast<size_t>(got) == length ? 0 : EPROTO;
}

enum class KvmFile { kOther, kVm, kStats };

bool StartsWith(const char* text, const char* prefix) { return std::strncmp(text, prefix, std::strlen(prefix)) == 0; }

// By the names KVM gives its anonymous inodes: "kvm-vm" and "kvm-vcpu:<id>", and for their statistics
// fds "kvm-vm-stats" and "kvm-vcpu-stats:<id>".
KvmFile Classify(const char* link) {
  if (std::strcmp(link, "anon_inode:kvm-vm-stats") == 0) return KvmFile::kStats;
  if (StartsWith(link, "anon_inode:kvm-vcpu-stats:")) return KvmFile::kStats;
  if (std::strcmp(link, "anon_inode:kvm-vm") == 0) return KvmFile::kVm;
  if (StartsWith(link, "anon_inode:kvm-vcpu:")) return KvmFile::kVm;
  return KvmFile::kOther;
}

// The numbers of the process's statistics fds, and whether it has a VM or vCPU fd.
int ListKvmFds(pid_t pid, std::vector<int>* stats_fds, bool* has_vm) {
  const std::string directory = "/proc/" + std::to_string(pid) + "/fd";
  DIR* listing = opendir(directory.c_str());
  if (listing == nullptr) return errno;
  int error = 0;
  while (const dirent* entry = readdir(listing)) {
    char link[64];
    ssize_t length = readlinkat(dirfd(listing), entry->d_name, link, sizeof link - 1);
    // Without leave to look, every link is refused: that must not pass for a process without a VM.
    if (length < 0 && (errno == EACCES || errno == EPERM)) {
      error = EACCES;
      break;
    }
    if (length < 0) continue;  // "." and "..", or a descriptor closed since the listing
    link[length] = '\0';
    KvmFile kind = Classify(link);
    if (kind == KvmFile::kStats) stats_fds->push_back(std::atoi(entry->d_name));
    *has_vm = *has_vm || kind == KvmFile::kVm;
  }
  closedir(listing);
  return error;
}

struct Scalar {
  std::string name;
  size_t word;  // its index in the data block, counted in u64
};

// One statistics fd: its data block, read whole on every Read(), and the scalars in it.
struct StatsFile {
  UniqueFd fd;
  off_t data_offset = 0;
  std::vector<uint64_t> data;
  std::vector<Scalar> scalars;
  std::vector<size_t> counters;  // for each scalar, its index in the device's list
};

// Fills in the rest of file from its header and descriptors, which do not change while the fd is open.
int ReadDescriptors(StatsFile* file) {
  kvm_stats_header header;
  if (int error = PreadAll(file->fd.get(), &header, sizeof header, 0)) return error;
  const size_t stride = kDescriptorFixedBytes + header.name_size;
  std::vector<char> block(stride * header.num_desc);
  if (int error = PreadAll(file->fd.get(), block.data(), block.size(), header.desc_offset)) return error;
  size_t words = 0;
  for (size_t at = 0; at < block.size(); at += stride) {
    kvm_stats_desc descriptor;
    std::memcpy(&descriptor, &block[at], kDescriptorFixedBytes);
    if (descriptor.offset % sizeof(uint64_t) != 0) return EPROTO;
    const size_t word = descriptor.offset / sizeof(uint64_t);
    words = std::max(words, word + descriptor.size);
    if (descriptor.size != 1) continue;  // a histogram
    const char* name = &block[at + kDescriptorFixedBytes];
    file->scalars.push_back({std::string(name, strnlen(name, header.name_size)), word});
  }
  file->data_offset = header.data_offset;
  file->data.resize(words);
  return 0;
}

// Copies the process's statistics fd number fd.
int OpenStatsFile(int pidfd, int fd, StatsFile* file) {
  file->fd.Reset(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0)));
  if (!file->fd) return errno;
  return ReadDescriptors(file);
}

// The names of all the files' scalars, sorted and once each; points each scalar at its name.
std::vector<std::string> IndexCounters(std::vector<StatsFile>* files) {
  std::vector<std::string> names;
  for (const StatsFile& file : *files) {
    for (const Scalar& scalar : file.scalars) names.push_back(scalar.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (StatsFile& file : *files) {
    for (const Scalar& scalar : file.scalars) {
      file.counters.push_back(std::lower_bound(names.begin(), names.end(), scalar.name) - names.begin());
    }
  }
  return names;
}

// A pidfd turns readable once its process has exited.
bool HasExited(int pidfd) {
  pollfd entry{pidfd, POLLIN, 0};
  return poll(&entry, 1, 0) > 0;
}

class KvmStatsDevice : public VmmDevice {
 public:
  KvmStatsDevice(UniqueFd pidfd, std::vector<StatsFile> files)
      : pidfd_(std::move(pidfd)), files_(std::move(files)), names_(IndexCounters(&files_)) {}

  int Read(VmmCounterList* out) override {
    if (HasExited(pidfd_.get())) return ENOENT;
    totals_.assign(names_.size(), 0);
    for (StatsFile& file : files_) {
      const size_t bytes = file.data.size() * sizeof(uint64_t);
      if (int error = PreadAll(file.fd.get(), file.data.data(), bytes, file.data_offset)) return error;
      for (size_t i = 0; i < file.scalars.size(); i++) totals_[file.counters[i]] += file.data[file.scalars[i].word];
    }
    out->clear();
    out->reserve(names_.size());
    for (size_t i = 0; i < names_.size(); i++) out->emplace_back(names_[i], totals_[i]);
    return 0;
  }

 private:
  UniqueFd pidfd_;
  std::vector<StatsFile> files_;
  std::vector<std::string> names_;
  std::vector<uint64_t> totals_;
};

int OpenStatsFiles(pid_t pid, int pidfd, std::vector<StatsFile>* files) {
  std::vector<int> fds;
  bool has_vm = false;
  if (int error = ListKvmFds(pid, &fds, &has_vm)) return error;
  if (fds.empty()) return has_vm ? ENODATA : ENOENT;
  for (int fd : fds) {
    StatsFile file;
    int error = OpenStatsFile(pidfd, fd, &file);
    if (error == EBADF) continue;  // closed since it was listed
    if (error != 0) return error;
    files->push_back(std::move(file));
  }
  return files->empty() ? ENOENT : 0;
}

}  // namespace

int OpenKvmStatsDevice(pid_t pid, std::unique_ptr<VmmDevice>* out) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return errno;
  std::vector<StatsFile> files;
  if (int error = OpenStatsFiles(pid, pidfd.get(), &files)) return error == EPERM ? EACCES : error;
  *out = std::make_unique<KvmStatsDevice>(std::move(pidfd), std::move(files));
  return 0;
}

}  // namespace vmmstats
