/* The floor under the interface sampler: the rtnetlink messages it reads, read by plain C.
 *   links-floor dump ITERATIONS NAME...     one RTM_GETLINK dump per iteration
 *   links-floor request ITERATIONS NAME...  one RTM_GETLINK request per name, all in one write
 * Both parse each link's name, flags, MTU, queue length and 64-bit statistics. Prints the CPU microseconds
 * per name per iteration. */
#include "floor.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

static unsigned long long sink;

static void take_link(const struct nlmsghdr *message, void *context) {
  (void)context;
  if (message->nlmsg_type != RTM_NEWLINK) return;
  const struct ifinfomsg *info = NLMSG_DATA(message);
  int length = message->nlmsg_len - NLMSG_LENGTH(sizeof *info);
  sink += info->ifi_flags;
  for (const struct rtattr *attribute = IFLA_RTA(info); RTA_OK(attribute, length); attribute = RTA_NEXT(attribute, length)) {
    if (attribute->rta_type == IFLA_STATS64) {
      struct rtnl_link_stats64 stats;
      memcpy(&stats, RTA_DATA(attribute), sizeof stats);
      sink += stats.rx_packets + stats.tx_bytes;
    } else if (attribute->rta_type == IFLA_IFNAME) {
      sink += strlen(RTA_DATA(attribute));
    } else if (attribute->rta_type == IFLA_MTU || attribute->rta_type == IFLA_TXQLEN) {
      sink += *(const unsigned *)RTA_DATA(attribute);
    }
  }
}

static void dump(int fd) {
  static char buffer[64 << 10];
  struct {
    struct nlmsghdr header;
    struct ifinfomsg info;
  } request = {{sizeof request, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0}, {0}};
  if (send(fd, &request, sizeof request, 0) < 0) die("send");
  for (;;) {
    int length = recv(fd, buffer, sizeof buffer, 0);
    if (length < 0) die("recv");
    for (const struct nlmsghdr *message = (const void *)buffer; NLMSG_OK(message, length); message = NLMSG_NEXT(message, length)) {
      if (message->nlmsg_type == NLMSG_DONE) return;
      take_link(message, NULL);
    }
  }
}

struct request {
  struct nlmsghdr header;
  struct ifinfomsg info;
  struct rtattr attribute;
  char name[16];
};

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s dump|request ITERATIONS NAME...\n", argv[0]);
    return 2;
  }
  const int by_dump = strcmp(argv[1], "dump") == 0, iterations = atoi(argv[2]), count = argc - 3;
  const int fd = netlink_open(NETLINK_ROUTE);
  struct request *requests = calloc(count, sizeof *requests);
  for (int i = 0; i < count; i++) {
    struct request *r = &requests[i];
    r->header = (struct nlmsghdr){sizeof *r, RTM_GETLINK, NLM_F_REQUEST, i, 0};
    r->attribute = (struct rtattr){RTA_LENGTH(strlen(argv[i + 3]) + 1), IFLA_IFNAME};
    strncpy(r->name, argv[i + 3], sizeof r->name - 1);
  }
  double start = 0;
  for (int iteration = -1; iteration < iterations; iteration++) {
    if (iteration == 0) start = cpu_microseconds();  /* iteration -1 warms up */
    if (by_dump) {
      dump(fd);
    } else {
      netlink_transact(fd, requests, count * sizeof *requests, count, 8192, take_link, NULL);
    }
  }
  printf("%.3f\n", (cpu_microseconds() - start) / iterations / count);
  return sink == 0xdeadbeef;
}
