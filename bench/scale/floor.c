// The C floor of one collector tick: the kernel reads the Linux sampler makes per tick, done as directly
// as C can, and nothing else (no encoding, no sending). Per pid: pread of /proc/<pid>/stat through a
// descriptor kept open between ticks (and of /proc/<pid>/io too for a process with threads; a process
// with one thread has its I/O in the taskstats reply), and a taskstats TGID and a PID query, sent in
// batches and answered through recvmmsg; then one RTM_GETLINK dump whose entries are matched against the
// taps by name. Paced like the daemon: a tick every INTERVAL_MS.
//
// Apart from the tick (and not counted in it), each tick also dumps the same counters by RTM_GETSTATS
// (IFLA_STATS_LINK_64 only), matched by interface index: what the cheaper source would cost instead of
// RTM_GETLINK's whole link description, for the counters alone (flags, MTU and queue length are not in it).
//
//   floor TICKS INTERVAL_MS < list      (one line per VM: "pid tap tap ...")
// prints one JSON line: ticks measured (the first, which opens the files, is left out), and per tick the
// mean CPU time of this process (CLOCK_PROCESS_CPUTIME_ID) and the mean wall time, in nanoseconds; the CPU
// of each part of the tick (proc, taskstats, links) and of the RTM_GETSTATS dump (getstats).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/taskstats.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TAPS_PER_VM 8
#define REPLY_BYTES 4096
#define REPLIES_PER_RECEIVE 64
#define RECEIVE_QUEUE_BYTES (4 << 20)
#define DUMP_BUFFER_BYTES (64 << 10)

struct vm {
  pid_t pid;
  int stat_fd, io_fd;
  uint64_t utime, stime, threads, start_time, read_bytes, write_bytes, maxrss, nvcsw, nivcsw;
};

struct tap {
  char name[IFNAMSIZ];
  struct rtnl_link_stats64 stats;
  uint32_t flags, mtu;
  int index;
  int found, found_by_stats;
};

static struct vm *vms;
static size_t vm_count;
static struct tap *taps;
static size_t tap_count;

static void die(const char *what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int compare_taps(const void *a, const void *b) {
  return strcmp(((const struct tap *)a)->name, ((const struct tap *)b)->name);
}

static void read_list(void) {
  char line[1024];
  size_t vm_capacity = 64, tap_capacity = 128;
  vms = calloc(vm_capacity, sizeof *vms);
  taps = calloc(tap_capacity, sizeof *taps);
  while (fgets(line, sizeof line, stdin) != NULL) {
    char *save = NULL;
    char *word = strtok_r(line, " \n", &save);
    if (word == NULL) continue;
    if (vm_count == vm_capacity) vms = realloc(vms, (vm_capacity *= 2) * sizeof *vms);
    vms[vm_count] = (struct vm){.pid = atoi(word), .stat_fd = -1, .io_fd = -1};
    vm_count++;
    while ((word = strtok_r(NULL, " \n", &save)) != NULL) {
      if (tap_count == tap_capacity) taps = realloc(taps, (tap_capacity *= 2) * sizeof *taps);
      memset(&taps[tap_count], 0, sizeof taps[tap_count]);
      snprintf(taps[tap_count].name, IFNAMSIZ, "%s", word);
      tap_count++;
    }
  }
  qsort(taps, tap_count, sizeof *taps, compare_taps);
}

// ---- /proc ----

static ssize_t pread_file(pid_t pid, const char *name, int *fd, char *buffer, size_t size) {
  if (*fd < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return -1;
  }
  ssize_t length = pread(*fd, buffer, size - 1, 0);
  if (length >= 0) buffer[length] = '\0';
  return length;
}

static uint64_t labeled(const char *text, const char *label) {
  const char *at = strstr(text, label);
  return at == NULL ? 0 : strtoull(at + strlen(label), NULL, 10);
}

static void read_proc(struct vm *vm) {
  char buffer[2048];
  if (pread_file(vm->pid, "stat", &vm->stat_fd, buffer, sizeof buffer) > 0) {
    const char *at = strrchr(buffer, ')');
    uint64_t fields[23] = {0};
    if (at != NULL) {
      at += 3;  // ") S"
      for (int field = 4; field <= 22; field++) {
        char *end;
        fields[field] = strtoull(at, &end, 10);
        at = end;
      }
    }
    vm->utime = fields[14];
    vm->stime = fields[15];
    vm->threads = fields[20];
    vm->start_time = fields[22];
  }
  if (vm->threads > 1 && pread_file(vm->pid, "io", &vm->io_fd, buffer, sizeof buffer) > 0) {
    vm->read_bytes = labeled(buffer, "read_bytes:");
    vm->write_bytes = labeled(buffer, "write_bytes:");
  }
}

// ---- netlink ----

static int open_netlink(int protocol) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) die("netlink socket");
  struct sockaddr_nl address = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) die("netlink bind");
  int queue = RECEIVE_QUEUE_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &queue, sizeof queue) != 0) die("SO_RCVBUFFORCE");
  return fd;
}

// A generic netlink request with one attribute, appended at *at; returns its aligned length.
static size_t put_request(char *at, uint16_t type, uint8_t command, uint16_t attribute, const void *value,
                          size_t size, uint32_t seq) {
  size_t length = NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(NLA_HDRLEN + size);
  memset(at, 0, NLMSG_ALIGN(length));
  struct nlmsghdr *header = (struct nlmsghdr *)at;
  header->nlmsg_len = length;
  header->nlmsg_type = type;
  header->nlmsg_flags = NLM_F_REQUEST;
  header->nlmsg_seq = seq;
  struct genlmsghdr *generic = NLMSG_DATA(header);
  generic->cmd = command;
  generic->version = 1;
  struct nlattr *argument = (struct nlattr *)(at + NLMSG_LENGTH(GENL_HDRLEN));
  argument->nla_type = attribute;
  argument->nla_len = NLA_HDRLEN + size;
  memcpy((char *)argument + NLA_HDRLEN, value, size);
  return NLMSG_ALIGN(length);
}

#define FOR_EACH_ATTRIBUTE(attribute, data, length)                                           \
  for (struct nlattr *attribute = (struct nlattr *)(data);                                    \
       (char *)attribute + NLA_HDRLEN <= (char *)(data) + (length) && attribute->nla_len >= NLA_HDRLEN; \
       attribute = (struct nlattr *)((char *)attribute + NLA_ALIGN(attribute->nla_len)))

static uint16_t taskstats_family(int fd) {
  char request[256], reply[REPLY_BYTES];
  size_t length = put_request(request, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME,
                              TASKSTATS_GENL_NAME, sizeof TASKSTATS_GENL_NAME, 1);
  if (send(fd, request, length, 0) < 0) die("send GETFAMILY");
  ssize_t received = recv(fd, reply, sizeof reply, 0);
  if (received < 0) die("recv GETFAMILY");
  struct nlmsghdr *message = (struct nlmsghdr *)reply;
  if (message->nlmsg_type == NLMSG_ERROR) {
    errno = -((struct nlmsgerr *)NLMSG_DATA(message))->error;
    die("no TASKSTATS family");
  }
  char *payload = (char *)NLMSG_DATA(message) + GENL_HDRLEN;
  FOR_EACH_ATTRIBUTE(attribute, payload, message->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN)) {
    if (attribute->nla_type == CTRL_ATTR_FAMILY_ID) return *(uint16_t *)((char *)attribute + NLA_HDRLEN);
  }
  errno = ENOENT;
  die("no TASKSTATS family id");
  return 0;
}

static void take_taskstats(struct nlmsghdr *message, uint32_t first_seq) {
  if (message->nlmsg_type == NLMSG_ERROR) return;
  uint32_t position = message->nlmsg_seq - first_seq;
  if (position >= 2 * vm_count) return;
  struct vm *vm = &vms[position / 2];
  char *payload = (char *)NLMSG_DATA(message) + GENL_HDRLEN;
  FOR_EACH_ATTRIBUTE(aggregate, payload, message->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN)) {
    if (aggregate->nla_type != TASKSTATS_TYPE_AGGR_TGID && aggregate->nla_type != TASKSTATS_TYPE_AGGR_PID) continue;
    FOR_EACH_ATTRIBUTE(inner, (char *)aggregate + NLA_HDRLEN, aggregate->nla_len - NLA_HDRLEN) {
      if (inner->nla_type != TASKSTATS_TYPE_STATS) continue;
      struct taskstats stats;
      size_t size = inner->nla_len - NLA_HDRLEN;
      memset(&stats, 0, sizeof stats);
      memcpy(&stats, (char *)inner + NLA_HDRLEN, size < sizeof stats ? size : sizeof stats);
      if (aggregate->nla_type == TASKSTATS_TYPE_AGGR_TGID) {
        vm->nvcsw = stats.nvcsw;
        vm->nivcsw = stats.nivcsw;
      } else {
        vm->maxrss = stats.hiwater_rss;
        if (vm->threads <= 1) {
          vm->read_bytes = stats.read_bytes;
          vm->write_bytes = stats.write_bytes;
        }
      }
    }
  }
}

// Two queries per pid (TGID: context switches of every thread; PID: RSS high-water mark), sent in
// chunks the receive queue can hold, the replies taken REPLIES_PER_RECEIVE at a time.
static void query_taskstats(int fd, uint16_t family, char *requests, char *replies, uint32_t *next_seq) {
  const size_t chunk = RECEIVE_QUEUE_BYTES / (2 * REPLY_BYTES);
  const size_t total = 2 * vm_count;
  const uint32_t first_seq = *next_seq;
  struct mmsghdr messages[REPLIES_PER_RECEIVE];
  struct iovec vectors[REPLIES_PER_RECEIVE];
  for (size_t start = 0; start < total; start += chunk) {
    size_t count = total - start < chunk ? total - start : chunk;
    size_t bytes = 0;
    for (size_t i = start; i < start + count; i++) {
      uint32_t pid = (uint32_t)vms[i / 2].pid;
      uint16_t attribute = i % 2 == 0 ? TASKSTATS_CMD_ATTR_TGID : TASKSTATS_CMD_ATTR_PID;
      bytes += put_request(requests + bytes, family, TASKSTATS_CMD_GET, attribute, &pid, sizeof pid, first_seq + i);
    }
    if (send(fd, requests, bytes, 0) < 0) die("send taskstats");
    size_t answered = 0;
    while (answered < count) {
      for (size_t i = 0; i < REPLIES_PER_RECEIVE; i++) {
        vectors[i] = (struct iovec){replies + i * REPLY_BYTES, REPLY_BYTES};
        messages[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &vectors[i], .msg_iovlen = 1}};
      }
      int received = recvmmsg(fd, messages, REPLIES_PER_RECEIVE, MSG_DONTWAIT, NULL);
      if (received < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("recvmmsg taskstats");
      }
      for (int i = 0; i < received; i++) {
        take_taskstats((struct nlmsghdr *)vectors[i].iov_base, first_seq);
        answered++;
      }
    }
  }
  *next_seq = first_seq + total;
}

static struct tap *find_tap(const char *name) {
  struct tap key;
  snprintf(key.name, IFNAMSIZ, "%s", name);
  return bsearch(&key, taps, tap_count, sizeof *taps, compare_taps);
}

static void take_link(struct nlmsghdr *message) {
  struct ifinfomsg *info = NLMSG_DATA(message);
  char *attributes = (char *)info + NLMSG_ALIGN(sizeof *info);
  size_t length = message->nlmsg_len - NLMSG_LENGTH(sizeof *info);
  struct tap *tap = NULL;
  struct rtnl_link_stats64 *stats = NULL;
  uint32_t mtu = 0;
  FOR_EACH_ATTRIBUTE(attribute, attributes, length) {
    void *value = (char *)attribute + NLA_HDRLEN;
    if (attribute->nla_type == IFLA_IFNAME) tap = find_tap(value);
    else if (attribute->nla_type == IFLA_STATS64) stats = value;
    else if (attribute->nla_type == IFLA_MTU) mtu = *(uint32_t *)value;
  }
  if (tap == NULL || stats == NULL) return;
  tap->index = info->ifi_index;
  memcpy(&tap->stats, stats, sizeof tap->stats);
  tap->flags = info->ifi_flags;
  tap->mtu = mtu;
  tap->found = 1;
}

static void dump_links(int fd, char *buffer, uint32_t *next_seq) {
  struct {
    struct nlmsghdr header;
    struct ifinfomsg info;
  } request = {
      .header = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK,
                 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = (*next_seq)++},
      .info = {.ifi_family = AF_UNSPEC},
  };
  for (size_t i = 0; i < tap_count; i++) taps[i].found = 0;
  if (send(fd, &request, request.header.nlmsg_len, 0) < 0) die("send RTM_GETLINK");
  while (1) {
    ssize_t received = recv(fd, buffer, DUMP_BUFFER_BYTES, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      die("recv RTM_GETLINK");
    }
    int length = (int)received;
    for (struct nlmsghdr *message = (struct nlmsghdr *)buffer; NLMSG_OK(message, length);
         message = NLMSG_NEXT(message, length)) {
      if (message->nlmsg_seq != request.header.nlmsg_seq) continue;
      if (message->nlmsg_type == NLMSG_DONE) return;
      if (message->nlmsg_type == NLMSG_ERROR) die("RTM_GETLINK dump refused");
      if (message->nlmsg_type == RTM_NEWLINK) take_link(message);
    }
  }
}

// ---- the cheaper source, for comparison ----

static int compare_ints(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

static int *index_order;  // tap positions sorted by interface index

static void sort_by_index(void) {
  index_order = malloc(tap_count * 2 * sizeof *index_order);
  for (size_t i = 0; i < tap_count; i++) {
    index_order[2 * i] = taps[i].index;
    index_order[2 * i + 1] = (int)i;
  }
  qsort(index_order, tap_count, 2 * sizeof *index_order, compare_ints);
}

static struct tap *find_index(int index) {
  int *found = bsearch(&index, index_order, tap_count, 2 * sizeof *index_order, compare_ints);
  return found == NULL ? NULL : &taps[found[1]];
}

static void take_stats(struct nlmsghdr *message) {
  struct if_stats_msg *info = NLMSG_DATA(message);
  struct tap *tap = find_index(info->ifindex);
  if (tap == NULL) return;
  char *attributes = (char *)info + NLMSG_ALIGN(sizeof *info);
  size_t length = message->nlmsg_len - NLMSG_LENGTH(sizeof *info);
  FOR_EACH_ATTRIBUTE(attribute, attributes, length) {
    if (attribute->nla_type != IFLA_STATS_LINK_64) continue;
    memcpy(&tap->stats, (char *)attribute + NLA_HDRLEN, sizeof tap->stats);
    tap->found_by_stats = 1;
  }
}

static void dump_stats(int fd, char *buffer, uint32_t *next_seq) {
  struct {
    struct nlmsghdr header;
    struct if_stats_msg info;
  } request = {
      .header = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct if_stats_msg)), .nlmsg_type = RTM_GETSTATS,
                 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = (*next_seq)++},
      .info = {.family = AF_UNSPEC, .filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64)},
  };
  for (size_t i = 0; i < tap_count; i++) taps[i].found_by_stats = 0;
  if (send(fd, &request, request.header.nlmsg_len, 0) < 0) die("send RTM_GETSTATS");
  while (1) {
    ssize_t received = recv(fd, buffer, DUMP_BUFFER_BYTES, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      die("recv RTM_GETSTATS");
    }
    int length = (int)received;
    for (struct nlmsghdr *message = (struct nlmsghdr *)buffer; NLMSG_OK(message, length);
         message = NLMSG_NEXT(message, length)) {
      if (message->nlmsg_seq != request.header.nlmsg_seq) continue;
      if (message->nlmsg_type == NLMSG_DONE) return;
      if (message->nlmsg_type == NLMSG_ERROR) die("RTM_GETSTATS dump refused");
      if (message->nlmsg_type == RTM_NEWSTATS) take_stats(message);
    }
  }
}

static int64_t now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: floor TICKS INTERVAL_MS < list (lines: pid tap...)\n");
    return 2;
  }
  const int ticks = atoi(argv[1]);
  const int64_t interval_ns = (int64_t)atoi(argv[2]) * 1000000;
  read_list();
  int taskstats_fd = open_netlink(NETLINK_GENERIC);
  int route_fd = open_netlink(NETLINK_ROUTE);
  uint16_t family = taskstats_family(taskstats_fd);
  char *requests = malloc(RECEIVE_QUEUE_BYTES / (2 * REPLY_BYTES) * 64);
  char *replies = malloc(REPLIES_PER_RECEIVE * REPLY_BYTES);
  char *dump = malloc(DUMP_BUFFER_BYTES);
  uint32_t seq = 100;
  int64_t cpu_total = 0, wall_total = 0, proc_total = 0, taskstats_total = 0, links_total = 0, getstats_total = 0;
  size_t taps_found = 0, taps_found_by_stats = 0;
  int64_t due = now_ns(CLOCK_MONOTONIC);
  for (int tick = 0; tick <= ticks; tick++) {
    struct timespec until = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
    int64_t wall = now_ns(CLOCK_MONOTONIC), cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < vm_count; i++) read_proc(&vms[i]);
    const int64_t after_proc = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    query_taskstats(taskstats_fd, family, requests, replies, &seq);
    const int64_t after_taskstats = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    dump_links(route_fd, dump, &seq);
    const int64_t after_links = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    wall = now_ns(CLOCK_MONOTONIC) - wall;
    if (tick == 0) sort_by_index();  // the first dump told the taps' indexes
    dump_stats(route_fd, dump, &seq);
    const int64_t after_getstats = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (tick > 0) {  // the first tick opens the /proc files: setup, as in the daemon
      cpu_total += after_links - cpu;
      wall_total += wall;
      proc_total += after_proc - cpu;
      taskstats_total += after_taskstats - after_proc;
      links_total += after_links - after_taskstats;
      getstats_total += after_getstats - after_links;
    }
    due += interval_ns;
  }
  for (size_t i = 0; i < tap_count; i++) taps_found_by_stats += taps[i].found_by_stats;
  for (size_t i = 0; i < tap_count; i++) taps_found += taps[i].found;
  size_t pids_read = 0;
  for (size_t i = 0; i < vm_count; i++) pids_read += vms[i].start_time != 0 && vms[i].maxrss != 0;
  printf("{\"ticks\":%d,\"cpu_ns_per_tick\":%lld,\"wall_ns_per_tick\":%lld,\"vms\":%zu,\"pids_read\":%zu,"
         "\"taps\":%zu,\"taps_found\":%zu,\"taps_found_by_stats\":%zu,\"parts_ns_per_tick\":{\"proc\":%lld,"
         "\"taskstats\":%lld,\"links\":%lld,\"getstats\":%lld}}\n",
         ticks, (long long)(cpu_total / ticks), (long long)(wall_total / ticks), vm_count, pids_read, tap_count,
         taps_found, taps_found_by_stats, (long long)(proc_total / ticks), (long long)(taskstats_total / ticks),
         (long long)(links_total / ticks), (long long)(getstats_total / ticks));
  return 0;
}
