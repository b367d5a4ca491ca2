// Linux: a process's usage, as getrusage(RUSAGE_SELF) would report it inside that process.
//
// Where each field comes from:
//   utime, stime       /proc/<pid>/stat fields 14 and 15, clock ticks (1/100 s): the whole thread group,
//                      exited threads included, split between user and system the way getrusage splits it
//   minflt, majflt     /proc/<pid>/stat fields 10 and 12: the whole thread group, exited threads included
//   maxrss             taskstats (TASKSTATS_CMD_ATTR_PID) hiwater_rss in KiB: the same kernel function
//                      getrusage uses. Without taskstats: VmHWM of /proc/<pid>/status, which sums the
//                      per-CPU RSS counters exactly and so can differ from it by a few hundred KiB
//   inblock, outblock  read_bytes and write_bytes divided by 512. For a process seen with one thread only:
//                      from taskstats (PID), that thread's own, rounded down to whole KiB by the kernel.
//                      Once the process is seen with more threads (in /proc/<pid>/stat, or as context
//                      switches of other threads in the TGID reply), and from then on for that pid: from
//                      /proc/<pid>/io, the whole thread group with exited threads included
//   nvcsw, nivcsw      taskstats (TASKSTATS_CMD_ATTR_TGID): summed over the threads; threads that have
//                      exited are included on kernels with "taskstats: retain dead thread stats in TGID
//                      queries" (2026), not before. Without taskstats: summed over
//                      /proc/<pid>/task/*/status, live threads only
//   start_time         /proc/<pid>/stat field 22, clock ticks since boot: fixed for the process's life
//
// Always 0, because Linux keeps no such count (getrusage(2) reports 0 for them too):
//   ixrss, idrss, isrss, nswap, msgsnd, msgrcv, nsignals
//
// Why not everything from taskstats, which answers a whole batch of pids cheaply: a TGID
// reply has no faults, RSS or I/O at all, and its times are the raw tick samples (not getrusage's split)
// that lost exited threads before 2026; a PID reply covers one thread only, and its start time (ac_btime)
// is "now minus elapsed" in whole seconds, which moves by one second between two reads. So taskstats
// gives what /proc cannot give cheaply (the context switches of every thread, the RSS high-water mark,
// and the I/O of a process that has only one thread), and /proc the rest. /proc files cost most in
// open(): the files of a pid stay open between calls and are read again with pread.
// Thanks to the one-thread case a solo5 VMM costs stat plus taskstats; a VMM with threads adds io. The
// choice is sticky per pid, so that inblock and outblock never go down.
//
// taskstats needs CAP_NET_ADMIN in the initial user namespace; without it, without the TASKSTATS family,
// or with VMM_STATS_PROCESS_SOURCE=procfs in the environment, every field comes from /proc as above
// (VMM_STATS_PROCESS_SOURCE=taskstats instead makes every pid fail when taskstats cannot be had).
#include <dirent.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/taskstats.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <string_view>
#include <vector>

#include "netlink_linux.h"
#include "sampler.h"

namespace vmmstats {
namespace {

constexpr uint64_t kBlockBytes = 512;

// The open /proc files of one process. A descriptor stays bound to the process it was opened for: once
// that process is gone it answers ESRCH, even after the pid names another process.
struct ProcFiles {
  UniqueFd stat;
  UniqueFd io;
  UniqueFd status;
  // Seen with more than one thread: its I/O comes from /proc/<pid>/io from now on.
  bool threaded = false;
};

uint64_t ClockTicksPerSecond() {
  static const uint64_t ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return ticks;
}

// VMM_STATS_PROCESS_SOURCE: "procfs" reads everything from /proc; "taskstats" insists on taskstats and
// fails every pid when it cannot be had (so that a test knows which way it went); otherwise, either.
enum class Wanted { kEither, kProcfs, kTaskstats };

Wanted WantedSource() {
  const char* source = getenv("VMM_STATS_PROCESS_SOURCE");
  if (source == nullptr) return Wanted::kEither;
  if (std::strcmp(source, "procfs") == 0) return Wanted::kProcfs;
  if (std::strcmp(source, "taskstats") == 0) return Wanted::kTaskstats;
  return Wanted::kEither;
}

int OpenProcFile(pid_t pid, const char* name, UniqueFd* fd) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  fd->Reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (*fd) return 0;
  return errno == ENOENT ? ESRCH : errno;
}

// Reads a whole /proc file into buffer from offset 0, opening it first if *fd is not open yet.
int ReadProcFile(pid_t pid, const char* name, UniqueFd* fd, char* buffer, size_t size, std::string_view* text) {
  if (!*fd) {
    if (int error = OpenProcFile(pid, name, fd)) return error;
  }
  while (true) {
    ssize_t length = pread(fd->get(), buffer, size - 1, 0);
    if (length >= 0) {
      buffer[length] = '\0';
      *text = std::string_view(buffer, static_cast<size_t>(length));
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

// The number after "label" at the start of a line of a "Name: value" file such as status or io.
uint64_t LabeledValue(std::string_view text, std::string_view label) {
  for (size_t at = 0; at < text.size();) {
    if (text.compare(at, label.size(), label) == 0) return std::strtoull(text.data() + at + label.size(), nullptr, 10);
    size_t newline = text.find('\n', at);
    if (newline == std::string_view::npos) break;
    at = newline + 1;
  }
  return 0;
}

struct StatFields {
  uint64_t minflt, majflt, utime, stime, threads, start_time;
};

// /proc/<pid>/stat: "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are
// counted from the last ')'.
int ParseStat(std::string_view text, StatFields* fields) {
  size_t close = text.rfind(')');
  if (close == std::string_view::npos || close + 3 >= text.size()) return EPROTO;
  uint64_t values[23] = {};
  const char* at = text.data() + close + 3;  // past ") " and the state letter, field 3
  char* end = nullptr;
  for (int field = 4; field <= 22; field++) {
    values[field] = std::strtoull(at, &end, 10);
    if (end == at) return EPROTO;
    at = end;
  }
  *fields = StatFields{values[10], values[12], values[14], values[15], values[20], values[22]};
  return 0;
}

void SetTimes(const StatFields& stat, ProcessUsage* out) {
  const uint64_t hz = ClockTicksPerSecond();
  out->utime_sec = stat.utime / hz;
  out->utime_usec = stat.utime % hz * 1000000 / hz;
  out->stime_sec = stat.stime / hz;
  out->stime_usec = stat.stime % hz * 1000000 / hz;
}

void SetIo(std::string_view io, ProcessUsage* out) {
  out->inblock = LabeledValue(io, "read_bytes:") / kBlockBytes;
  out->outblock = LabeledValue(io, "write_bytes:") / kBlockBytes;
}

// The per-thread figures /proc/<pid>/status gives for its thread: the leader's context switches, and the
// process's RSS high-water mark.
struct StatusFields {
  uint64_t maxrss, nvcsw, nivcsw;
};

StatusFields ParseStatus(std::string_view text) {
  return StatusFields{LabeledValue(text, "VmHWM:"), LabeledValue(text, "voluntary_ctxt_switches:"),
                      LabeledValue(text, "nonvoluntary_ctxt_switches:")};
}

// Context switches summed over /proc/<pid>/task/*/status: the live threads.
void SumThreadSwitches(pid_t pid, ProcessUsage* out) {
  std::string directory = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(directory.c_str());
  if (tasks == nullptr) return;
  uint64_t nvcsw = 0, nivcsw = 0;
  char buffer[8192];
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    UniqueFd fd(openat(dirfd(tasks), (std::string(entry->d_name) + "/status").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;  // the thread has exited since the listing
    ssize_t length = read(fd.get(), buffer, sizeof buffer - 1);
    if (length <= 0) continue;
    StatusFields thread = ParseStatus(std::string_view(buffer, static_cast<size_t>(length)));
    nvcsw += thread.nvcsw;
    nivcsw += thread.nivcsw;
  }
  closedir(tasks);
  out->nvcsw = nvcsw;
  out->nivcsw = nivcsw;
}

// What taskstats tells of one process.
struct TaskstatsRow {
  uint64_t maxrss;          // KiB, from the PID reply (the RSS high-water mark is the process's)
  uint64_t nvcsw, nivcsw;   // summed over the threads, from the TGID reply
  uint64_t leader_switches; // the thread group leader's own nvcsw + nivcsw, from the PID reply
  uint64_t leader_read_bytes, leader_write_bytes;
};

// Asks the kernel's TASKSTATS generic netlink family, many pids per write.
class Taskstats {
 public:
  // Whether taskstats can answer here; tried once: the first query is about this very process.
  bool Usable() {
    if (state_ == State::kUntried) {
      failure_ = Probe();
      state_ = failure_ == 0 ? State::kUsable : State::kUnusable;
    }
    return state_ == State::kUsable;
  }

  // Why taskstats is not used: the errno of the probe or of the query that failed.
  int failure() const { return failure_; }

  void GiveUp(int error) {
    state_ = State::kUnusable;
    failure_ = error;
  }

  // Fills rows[i] for each pid whose errors[i] is 0, or sets errors[i] when that pid failed.
  // Returns 0, or an errno when taskstats as a whole failed.
  int Query(const pid_t* pids, size_t count, int* errors, std::vector<TaskstatsRow>* rows);

 private:
  enum class State { kUntried, kUsable, kUnusable };

  int Probe();
  int ResolveFamily();
  void AppendRequest(uint16_t type, uint16_t command, uint16_t attribute, const void* value, size_t size);

  NetlinkSocket socket_;
  uint16_t family_ = 0;
  State state_ = State::kUntried;
  int failure_ = 0;
  std::vector<char> requests_;
  std::vector<size_t> asked_;
};

void Taskstats::AppendRequest(uint16_t type, uint16_t command, uint16_t attribute, const void* value, size_t size) {
  const size_t start = requests_.size();
  const size_t length = NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(NLA_HDRLEN + size);
  requests_.resize(start + NLMSG_ALIGN(length), 0);
  char* at = requests_.data() + start;
  auto* header = reinterpret_cast<nlmsghdr*>(at);
  header->nlmsg_len = static_cast<uint32_t>(length);
  header->nlmsg_type = type;
  header->nlmsg_flags = NLM_F_REQUEST;
  auto* generic = reinterpret_cast<genlmsghdr*>(at + NLMSG_HDRLEN);
  generic->cmd = static_cast<uint8_t>(command);
  generic->version = 1;
  auto* argument = reinterpret_cast<nlattr*>(at + NLMSG_LENGTH(GENL_HDRLEN));
  argument->nla_type = attribute;
  argument->nla_len = static_cast<uint16_t>(NLA_HDRLEN + size);
  std::memcpy(reinterpret_cast<char*>(argument) + NLA_HDRLEN, value, size);
}

int Taskstats::ResolveFamily() {
  requests_.clear();
  AppendRequest(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME,
                sizeof TASKSTATS_GENL_NAME);
  int answer = 0;
  int error = socket_.Transact(&requests_, [&](size_t, const nlmsghdr* message, int reply_error) {
    answer = reply_error;
    if (message == nullptr) return;
    ForEachAttribute(static_cast<const char*>(NLMSG_DATA(message)) + GENL_HDRLEN,
                     message->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN),
                     [&](uint16_t type, const void* data, size_t length) {
                       if (type == CTRL_ATTR_FAMILY_ID) family_ = AttributeValue<uint16_t>(data, length);
                     });
  });
  if (error != 0) return error;
  if (answer != 0) return answer;
  return family_ != 0 ? 0 : ENOENT;
}

// 0 when taskstats answers about this very process with an RSS high-water mark; else EPERM without
// CAP_NET_ADMIN, ENOENT without the TASKSTATS family, ENOTSUP without CONFIG_TASK_XACCT (no RSS figures).
int Taskstats::Probe() {
  if (int error = socket_.Open(NETLINK_GENERIC, 4096)) return error;
  if (int error = ResolveFamily()) return error;
  const pid_t self = getpid();
  int failed = 0;
  std::vector<TaskstatsRow> rows;
  if (int error = Query(&self, 1, &failed, &rows)) return error;
  if (failed != 0) return failed;
  return rows[0].maxrss != 0 ? 0 : ENOTSUP;
}

int Taskstats::Query(const pid_t* pids, size_t count, int* errors, std::vector<TaskstatsRow>* rows) {
  rows->assign(count, TaskstatsRow{});
  requests_.clear();
  asked_.clear();
  for (size_t row = 0; row < count; row++) {
    if (errors[row] != 0) continue;
    const uint32_t pid = static_cast<uint32_t>(pids[row]);
    AppendRequest(family_, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_TGID, &pid, sizeof pid);
    AppendRequest(family_, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_PID, &pid, sizeof pid);
    asked_.push_back(row);
  }
  if (asked_.empty()) return 0;

  bool refused = false;
  int error = socket_.Transact(&requests_, [&](size_t position, const nlmsghdr* message, int reply_error) {
    const size_t row = asked_[position / 2];
    if (reply_error == EPERM) refused = true;
    if (message == nullptr) {
      errors[row] = reply_error;
      return;
    }
    TaskstatsRow& out = (*rows)[row];
    ForEachAttribute(static_cast<const char*>(NLMSG_DATA(message)) + GENL_HDRLEN,
                     message->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN),
                     [&](uint16_t aggregate, const void* data, size_t length) {
                       if (aggregate != TASKSTATS_TYPE_AGGR_TGID && aggregate != TASKSTATS_TYPE_AGGR_PID) return;
                       ForEachAttribute(data, length, [&](uint16_t type, const void* value, size_t size) {
                         if (type != TASKSTATS_TYPE_STATS) return;
                         const auto stats = AttributeValue<taskstats>(value, size);
                         if (aggregate == TASKSTATS_TYPE_AGGR_TGID) {
                           out.nvcsw = stats.nvcsw;
                           out.nivcsw = stats.nivcsw;
                         } else {
                           out.maxrss = stats.hiwater_rss;
                           out.leader_switches = stats.nvcsw + stats.nivcsw;
                           out.leader_read_bytes = stats.read_bytes;
                           out.leader_write_bytes = stats.write_bytes;
                         }
                       });
                     });
  });
  if (error != 0) return error;
  return refused ? EPERM : 0;
}

enum class Source { kTaskstats, kProcfs };

class ProcessReader {
 public:
  void Sample(const pid_t* pids, size_t count, ProcessUsage* out, int* errors);
  // Closes the files kept for these pids.
  void Forget(const pid_t* pids, size_t count) {
    for (size_t i = 0; i < count; i++) files_.Forget(pids[i]);
  }

 private:
  int ReadProcfs(pid_t pid, Source source, ProcessUsage* out);
  int ReadFiles(pid_t pid, ProcFiles* files, Source source, ProcessUsage* out);
  void AddTaskstats(const pid_t* pids, size_t count, ProcessUsage* out, int* errors);

  RecentCache<pid_t, ProcFiles> files_;
  Taskstats taskstats_;
  std::vector<TaskstatsRow> taskstats_rows_;
};

void ProcessReader::Sample(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  files_.BeginCall();
  const Wanted wanted = WantedSource();
  const Source source = wanted != Wanted::kProcfs && taskstats_.Usable() ? Source::kTaskstats : Source::kProcfs;
  if (wanted == Wanted::kTaskstats && source != Source::kTaskstats) {
    for (size_t row = 0; row < count; row++) errors[row] = taskstats_.failure();
    return;
  }
  for (size_t row = 0; row < count; row++) {
    out[row] = ProcessUsage{};
    errors[row] = ReadProcfs(pids[row], source, &out[row]);
  }
  if (source == Source::kTaskstats) AddTaskstats(pids, count, out, errors);
}

void ProcessReader::AddTaskstats(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  if (int error = taskstats_.Query(pids, count, errors, &taskstats_rows_)) {
    // Refused after the probe worked (capabilities dropped): /proc from now on.
    taskstats_.GiveUp(error);
    for (size_t row = 0; row < count; row++) {
      if (errors[row] == 0) errors[row] = ReadProcfs(pids[row], Source::kProcfs, &out[row]);
    }
    return;
  }
  char buffer[1024];
  std::string_view text;
  for (size_t row = 0; row < count; row++) {
    if (errors[row] != 0) continue;
    const TaskstatsRow& stats = taskstats_rows_[row];
    out[row].maxrss = stats.maxrss;
    out[row].nvcsw = stats.nvcsw;
    out[row].nivcsw = stats.nivcsw;
    ProcFiles& files = files_.Use(pids[row]);
    if (files.threaded) continue;  // its I/O came from /proc/<pid>/io
    if (stats.nvcsw + stats.nivcsw <= stats.leader_switches) {
      out[row].inblock = stats.leader_read_bytes / kBlockBytes;
      out[row].outblock = stats.leader_write_bytes / kBlockBytes;
      continue;
    }
    // Other threads have switched, so they ran (and may have done I/O) since the last look.
    files.threaded = true;
    errors[row] = ReadProcFile(pids[row], "io", &files.io, buffer, sizeof buffer, &text);
    SetIo(text, &out[row]);
  }
}

// Reads the process's /proc files through the descriptors kept for its pid. When a kept descriptor answers
// ESRCH its process has gone, and the pid may already name a new one: open afresh once.
int ProcessReader::ReadProcfs(pid_t pid, Source source, ProcessUsage* out) {
  if (pid <= 0) return ESRCH;
  ProcFiles& files = files_.Use(pid);
  const bool kept = static_cast<bool>(files.stat);
  int error = ReadFiles(pid, &files, source, out);
  if (error == ESRCH && kept) {
    files = ProcFiles{};
    error = ReadFiles(pid, &files, source, out);
  }
  if (error != 0) files_.Forget(pid);
  return error;
}

int ProcessReader::ReadFiles(pid_t pid, ProcFiles* files, Source source, ProcessUsage* out) {
  char buffer[8192];
  std::string_view text;
  if (int error = ReadProcFile(pid, "stat", &files->stat, buffer, sizeof buffer, &text)) return error;
  StatFields stat;
  if (int error = ParseStat(text, &stat)) return error;
  SetTimes(stat, out);
  out->minflt = stat.minflt;
  out->majflt = stat.majflt;
  out->start_time = stat.start_time;
  if (stat.threads > 1) files->threaded = true;

  if (source == Source::kProcfs || files->threaded) {
    if (int error = ReadProcFile(pid, "io", &files->io, buffer, sizeof buffer, &text)) return error;
    SetIo(text, out);
  }
  if (source == Source::kTaskstats) return 0;

  if (int error = ReadProcFile(pid, "status", &files->status, buffer, sizeof buffer, &text)) return error;
  StatusFields status = ParseStatus(text);
  out->maxrss = status.maxrss;
  out->nvcsw = status.nvcsw;
  out->nivcsw = status.nivcsw;
  if (stat.threads > 1) SumThreadSwitches(pid, out);
  return 0;
}

}  // namespace

// The ticks' reader, whichever thread of libuv's pool runs a tick's pass: one set of kept /proc files,
// not one per thread (four times the descriptors, past the open-files limit at 10,000 VMs). Never
// destroyed, so that a pass still running at exit does not find it gone.
void SampleProcesses(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  static std::mutex* mutex = new std::mutex();
  static ProcessReader* reader = new ProcessReader();
  std::lock_guard<std::mutex> lock(*mutex);
  reader->Sample(pids, count, out, errors);
}

// One per thread, as a netlink socket is not to be shared; what it opened for the pids is closed after.
void SampleProcessesOnce(const pid_t* pids, size_t count, ProcessUsage* out, int* errors) {
  thread_local ProcessReader reader;
  reader.Sample(pids, count, out, errors);
  reader.Forget(pids, count);
}

int SampleProcess(pid_t pid, ProcessUsage* out) {
  int error = 0;
  SampleProcessesOnce(&pid, 1, out, &error);
  return error;
}

// /proc/<pid>/stat alone, opened and closed: no taskstats query, no descriptor kept.
void ProcessStartTimes(const pid_t* pids, size_t count, uint64_t* start_times, int* errors) {
  char buffer[8192];
  for (size_t i = 0; i < count; i++) {
    start_times[i] = 0;
    UniqueFd stat_fd;
    std::string_view text;
    StatFields stat;
    errors[i] = pids[i] <= 0 ? ESRCH : ReadProcFile(pids[i], "stat", &stat_fd, buffer, sizeof buffer, &text);
    if (errors[i] == 0) errors[i] = ParseStat(text, &stat);
    if (errors[i] == 0) start_times[i] = stat.start_time;
  }
}

}  // namespace vmmstats
