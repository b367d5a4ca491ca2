/* The floor under the process sampler: the kernel sources it reads, read by plain C.
 *   process-floor ours ITERATIONS PID...    /proc/<pid>/stat kept open and read again with pread (and io
 *                                           too for a process with threads), plus taskstats TGID and PID
 *                                           replies for all pids in one batch
 *   process-floor procfs ITERATIONS PID...  open, read and close /proc/<pid>/stat, status and io each time
 * Prints the CPU microseconds per pid per iteration. */
#include "floor.h"

#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/taskstats.h>

struct usage {
  unsigned long long minflt, majflt, utime, stime, threads, start, read_bytes, write_bytes, maxrss, nvcsw, nivcsw;
};

static unsigned long long sink;

static void parse_stat(const char *text, struct usage *u) {
  const char *at = strrchr(text, ')') + 3;
  unsigned long long fields[23];
  char *end;
  for (int field = 4; field <= 22; field++) {
    fields[field] = strtoull(at, &end, 10);
    at = end;
  }
  u->minflt = fields[10], u->majflt = fields[12], u->utime = fields[14], u->stime = fields[15];
  u->threads = fields[20], u->start = fields[22];
}

static unsigned long long labeled(const char *text, const char *label) {
  const char *at = strstr(text, label);
  return at ? strtoull(at + strlen(label), NULL, 10) : 0;
}

static void parse_io(const char *text, struct usage *u) {
  u->read_bytes = labeled(text, "read_bytes:");
  u->write_bytes = labeled(text, "write_bytes:");
}

static void read_fd(int fd, char *buffer, size_t size) {
  ssize_t length = pread(fd, buffer, size - 1, 0);
  if (length < 0) die("pread");
  buffer[length] = 0;
}

static void read_path(int pid, const char *name, char *buffer, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  read_fd(fd, buffer, size);
  close(fd);
}

struct request {
  struct nlmsghdr header;
  struct genlmsghdr generic;
  struct nlattr attribute;
  unsigned value;
};

static int family(int fd) {
  struct {
    struct nlmsghdr header;
    struct genlmsghdr generic;
    struct nlattr attribute;
    char name[sizeof TASKSTATS_GENL_NAME];
  } request = {{sizeof request, GENL_ID_CTRL, NLM_F_REQUEST, 1, 0}, {CTRL_CMD_GETFAMILY, 1, 0},
               {NLA_HDRLEN + sizeof TASKSTATS_GENL_NAME, CTRL_ATTR_FAMILY_NAME}, TASKSTATS_GENL_NAME};
  char reply[4096];
  if (send(fd, &request, sizeof request, 0) < 0 || recv(fd, reply, sizeof reply, 0) < 0) die("family");
  const struct nlmsghdr *header = (const void *)reply;
  const char *at = (const char *)NLMSG_DATA(header) + GENL_HDRLEN, *end = reply + header->nlmsg_len;
  while (at < end) {
    const struct nlattr *attribute = (const void *)at;
    if (attribute->nla_type == CTRL_ATTR_FAMILY_ID) return *(const unsigned short *)(at + NLA_HDRLEN);
    at += NLA_ALIGN(attribute->nla_len);
  }
  fprintf(stderr, "no TASKSTATS family\n");
  exit(1);
}

static void take_taskstats(const struct nlmsghdr *reply, void *context) {
  struct usage *rows = context;
  if (reply->nlmsg_type == NLMSG_ERROR) die("taskstats reply");
  struct usage *u = &rows[reply->nlmsg_seq / 2];
  const char *at = (const char *)NLMSG_DATA(reply) + GENL_HDRLEN, *end = (const char *)reply + reply->nlmsg_len;
  while (at < end) {
    const struct nlattr *aggregate = (const void *)at;
    const char *inner = at + NLA_HDRLEN, *inner_end = at + aggregate->nla_len;
    while (inner < inner_end) {
      const struct nlattr *attribute = (const void *)inner;
      if (attribute->nla_type == TASKSTATS_TYPE_STATS) {
        struct taskstats stats;
        memcpy(&stats, inner + NLA_HDRLEN, sizeof stats);
        if (aggregate->nla_type == TASKSTATS_TYPE_AGGR_TGID) {
          u->nvcsw = stats.nvcsw, u->nivcsw = stats.nivcsw;
        } else {
          u->maxrss = stats.hiwater_rss;
          if (u->threads == 1) u->read_bytes = stats.read_bytes, u->write_bytes = stats.write_bytes;
        }
      }
      inner += NLA_ALIGN(attribute->nla_len);
    }
    at += NLA_ALIGN(aggregate->nla_len);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s ours|procfs ITERATIONS PID...\n", argv[0]);
    return 2;
  }
  const int ours = strcmp(argv[1], "ours") == 0, iterations = atoi(argv[2]), count = argc - 3;
  int *pids = calloc(count, sizeof *pids), *stat_fds = calloc(count, sizeof *stat_fds), *io_fds = calloc(count, sizeof *io_fds);
  struct usage *rows = calloc(count, sizeof *rows);
  struct request *requests = calloc(2 * count, sizeof *requests);
  char buffer[8192], path[64];
  int fd = -1;
  for (int i = 0; i < count; i++) pids[i] = atoi(argv[i + 3]);
  if (ours) {
    fd = netlink_open(NETLINK_GENERIC);
    const int id = family(fd);
    for (int i = 0; i < count; i++) {
      snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
      stat_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
      snprintf(path, sizeof path, "/proc/%d/io", pids[i]);
      io_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
      if (stat_fds[i] < 0 || io_fds[i] < 0) die(path);
      for (int k = 0; k < 2; k++) {
        requests[2 * i + k] = (struct request){{sizeof(struct request), id, NLM_F_REQUEST, 2 * i + k, 0},
                                               {TASKSTATS_CMD_GET, 1, 0},
                                               {NLA_HDRLEN + 4, k == 0 ? TASKSTATS_CMD_ATTR_TGID : TASKSTATS_CMD_ATTR_PID},
                                               pids[i]};
      }
    }
  }
  double start = 0;
  for (int iteration = -1; iteration < iterations; iteration++) {
    if (iteration == 0) start = cpu_microseconds();  /* iteration -1 warms up */
    for (int i = 0; i < count; i++) {
      if (ours) {
        read_fd(stat_fds[i], buffer, sizeof buffer);
        parse_stat(buffer, &rows[i]);
        if (rows[i].threads > 1) {
          read_fd(io_fds[i], buffer, sizeof buffer);
          parse_io(buffer, &rows[i]);
        }
      } else {
        read_path(pids[i], "stat", buffer, sizeof buffer);
        parse_stat(buffer, &rows[i]);
        read_path(pids[i], "status", buffer, sizeof buffer);
        rows[i].maxrss = labeled(buffer, "VmHWM:");
        rows[i].nvcsw = labeled(buffer, "\nvoluntary_ctxt_switches:");
        rows[i].nivcsw = labeled(buffer, "nonvoluntary_ctxt_switches:");
        read_path(pids[i], "io", buffer, sizeof buffer);
        parse_io(buffer, &rows[i]);
      }
    }
    if (ours) netlink_transact(fd, requests, 2 * count * sizeof *requests, 2 * count, 4096, take_taskstats, rows);
    for (int i = 0; i < count; i++) sink += rows[i].utime + rows[i].maxrss + rows[i].nvcsw + rows[i].read_bytes;
  }
  printf("%.3f\n", (cpu_microseconds() - start) / iterations / count);
  return sink == 0xdeadbeef;
}
