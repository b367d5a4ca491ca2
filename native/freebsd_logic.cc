// The FreeBSD readers' decisions; freebsd_logic.h says what each is for.
#include "freebsd_logic.h"

#include <algorithm>
#include <cerrno>

namespace vmmstats {

int ReadAtSteadyBootTime(const std::function<int(uint64_t* boot_time)>& read_boot_time,
                         const std::function<void()>& read_batch, uint64_t* boot_time) {
  for (int attempt = 0; attempt < kBootTimeAttempts; attempt++) {
    uint64_t before = 0;
    uint64_t after = 0;
    if (int error = read_boot_time(&before)) return error;
    read_batch();
    if (int error = read_boot_time(&after)) return error;
    if (before == after) {
      *boot_time = after;
      return 0;
    }
  }
  return EAGAIN;
}

std::string VmmDeviceName(const std::string& given, pid_t pid) {
  return given.empty() ? "solo5-" + std::to_string(pid) : given;
}

int CheckVmmDeviceName(const std::string& name, size_t max_namelen) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) return EINVAL;
  return name.size() >= max_namelen ? ENAMETOOLONG : 0;
}

int VmGoneAsEnoent(int error) { return error == ENXIO ? ENOENT : error; }

int GuestVcpus(uint16_t sockets, uint16_t cores, uint16_t threads, uint16_t maxcpus, std::vector<int>* vcpus) {
  const uint64_t guest = static_cast<uint64_t>(sockets) * cores * threads;
  const int count = static_cast<int>(std::min<uint64_t>(guest, maxcpus));
  vcpus->clear();
  for (int vcpu = 0; vcpu < count; vcpu++) vcpus->push_back(vcpu);
  return count == 0 ? EPROTO : 0;
}

int SumOverVcpus(size_t vcpus, const ReadVcpuCounters& read, std::vector<uint64_t>* totals) {
  totals->clear();
  for (size_t i = 0; i < vcpus; i++) {
    const uint64_t* values = nullptr;
    int count = 0;
    int error = read(i, &values, &count);
    if (error == 0 && (count < 0 || (i > 0 && static_cast<size_t>(count) != totals->size()))) error = EPROTO;
    if (error != 0) {
      totals->clear();
      return error;
    }
    if (i == 0) totals->assign(count, 0);
    for (int j = 0; j < count; j++) (*totals)[j] += values[j];
  }
  return 0;
}

}  // namespace vmmstats
