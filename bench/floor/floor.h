/* Shared by the C floors of bench/sample.ts: CPU time, and a netlink socket that sends a batch of requests
 * in one write and takes the replies with recvmmsg, the way native/netlink_linux.cc does. */
#ifndef FLOOR_H
#define FLOOR_H

#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLIES_PER_RECEIVE 64

static double cpu_microseconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return now.tv_sec * 1e6 + now.tv_nsec / 1e3;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int netlink_open(int protocol) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) die("socket");
  int queue = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &queue, sizeof queue) != 0) die("SO_RCVBUFFORCE");
  struct sockaddr_nl address = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) die("bind");
  return fd;
}

typedef void (*reply_handler)(const struct nlmsghdr *reply, void *context);

/* Sends `size` bytes of requests holding `count` messages and hands each of the `count` replies to handle. */
static void netlink_transact(int fd, const void *requests, size_t size, int count, size_t reply_bytes,
                             reply_handler handle, void *context) {
  static char *buffers;
  static size_t buffer_bytes;
  if (buffer_bytes < REPLIES_PER_RECEIVE * reply_bytes) {
    buffer_bytes = REPLIES_PER_RECEIVE * reply_bytes;
    buffers = realloc(buffers, buffer_bytes);
  }
  struct mmsghdr messages[REPLIES_PER_RECEIVE];
  struct iovec vectors[REPLIES_PER_RECEIVE];
  for (int i = 0; i < REPLIES_PER_RECEIVE; i++) {
    vectors[i] = (struct iovec){buffers + i * reply_bytes, reply_bytes};
    messages[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &vectors[i], .msg_iovlen = 1}};
  }
  if (send(fd, requests, size, 0) != (ssize_t)size) die("send");
  for (int got = 0; got < count;) {
    int received = recvmmsg(fd, messages, REPLIES_PER_RECEIVE, MSG_DONTWAIT, NULL);
    if (received < 0) die("recvmmsg");
    for (int i = 0; i < received; i++) handle((const struct nlmsghdr *)vectors[i].iov_base, context);
    got += received;
  }
}

#endif
