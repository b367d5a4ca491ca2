#include "netlink_linux.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace vmmstats {
namespace {

// Asked for; the kernel caps it at net.core.rmem_max unless we may force it.
constexpr int kReceiveQueueBytes = 4 << 20;
// Replies taken per recvmmsg.
constexpr size_t kRepliesPerReceive = 64;
// A dump part is at most 32 KiB; a larger buffer lets the kernel fill each part.
constexpr size_t kDumpBufferBytes = 64 << 10;

int SetReceiveQueue(int fd, size_t* queue_bytes) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveQueueBytes, sizeof kReceiveQueueBytes) != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveQueueBytes, sizeof kReceiveQueueBytes) != 0) {
    return errno;
  }
  int granted = 0;
  socklen_t size = sizeof granted;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &size) != 0) return errno;
  *queue_bytes = static_cast<size_t>(granted);
  return 0;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

int NetlinkErrno(const nlmsghdr* message) {
  if (message->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EBADMSG;
  return -static_cast<const nlmsgerr*>(NLMSG_DATA(message))->error;
}

int NetlinkSocket::Open(int protocol, size_t reply_buffer_bytes) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  if (!fd) return errno;
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return errno;
  size_t queue_bytes = 0;
  if (int error = SetReceiveQueue(fd.get(), &queue_bytes)) return error;
  // A queued reply costs its buffer and the socket buffer around it: count twice the largest reply.
  max_in_flight_ = std::max<size_t>(1, queue_bytes / (2 * reply_buffer_bytes));
  reply_buffer_bytes_ = reply_buffer_bytes;
  buffers_.assign(std::max(kRepliesPerReceive * reply_buffer_bytes, kDumpBufferBytes), 0);
  fd_ = std::move(fd);
  return 0;
}

int NetlinkSocket::SendAll(const char* data, size_t size) {
  while (true) {
    ssize_t sent = send(fd_.get(), data, size, 0);
    if (sent >= 0) return static_cast<size_t>(sent) == size ? 0 : EMSGSIZE;
    if (errno != EINTR) return errno;
  }
}

int NetlinkSocket::Transact(std::vector<char>* requests, const ReplyHandler& on_reply) {
  char* data = requests->data();
  size_t size = requests->size();
  size_t offset = 0;
  size_t position = 0;
  while (offset < size) {
    size_t chunk_bytes = 0;
    size_t chunk_count = 0;
    while (chunk_count < max_in_flight_ && offset + chunk_bytes < size) {
      chunk_bytes += NLMSG_ALIGN(reinterpret_cast<const nlmsghdr*>(data + offset + chunk_bytes)->nlmsg_len);
      chunk_count++;
    }
    if (int error = TransactChunk(data + offset, chunk_bytes, chunk_count, position, on_reply)) return error;
    offset += chunk_bytes;
    position += chunk_count;
  }
  return 0;
}

int NetlinkSocket::TransactChunk(char* requests, size_t bytes, size_t count, size_t first_position,
                                 const ReplyHandler& on_reply) {
  const uint32_t first_seq = next_seq_;
  for (size_t offset = 0; offset < bytes;) {
    nlmsghdr* request = reinterpret_cast<nlmsghdr*>(requests + offset);
    request->nlmsg_seq = next_seq_++;
    offset += NLMSG_ALIGN(request->nlmsg_len);
  }
  if (int error = SendAll(requests, bytes)) return error;

  std::vector<bool> answered(count, false);
  size_t answers = 0;
  auto answer = [&](uint32_t seq, const nlmsghdr* message, int error) {
    size_t index = seq - first_seq;  // unsigned: replies to earlier batches land far out of range
    if (index >= count || answered[index]) return;
    answered[index] = true;
    answers++;
    on_reply(first_position + index, message, error);
  };

  mmsghdr messages[kRepliesPerReceive];
  iovec vectors[kRepliesPerReceive];
  const size_t slots = std::min(kRepliesPerReceive, buffers_.size() / reply_buffer_bytes_);
  for (size_t i = 0; i < slots; i++) {
    vectors[i] = iovec{buffers_.data() + i * reply_buffer_bytes_, reply_buffer_bytes_};
    messages[i] = mmsghdr{};
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  while (answers < count) {
    int received = recvmmsg(fd_.get(), messages, static_cast<unsigned>(slots), MSG_DONTWAIT, nullptr);
    if (received < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;  // ENOBUFS: some reply was dropped; take the rest
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return errno;
    }
    if (received == 0) break;
    for (int i = 0; i < received; i++) {
      const char* buffer = static_cast<const char*>(vectors[i].iov_base);
      const nlmsghdr* first = reinterpret_cast<const nlmsghdr*>(buffer);
      if (messages[i].msg_hdr.msg_flags & MSG_TRUNC) {
        answer(first->nlmsg_seq, nullptr, EMSGSIZE);
        continue;
      }
      int length = static_cast<int>(messages[i].msg_len);
      for (const nlmsghdr* message = first; NLMSG_OK(message, length); message = NLMSG_NEXT(message, length)) {
        if (message->nlmsg_type == NLMSG_ERROR) {
          answer(message->nlmsg_seq, nullptr, NetlinkErrno(message));
        } else {
          answer(message->nlmsg_seq, message, 0);
        }
      }
    }
  }
  for (size_t index = 0; index < count; index++) {
    if (!answered[index]) on_reply(first_position + index, nullptr, ENOBUFS);
  }
  return 0;
}

int NetlinkSocket::Dump(nlmsghdr* request, const MessageHandler& on_message) {
  const uint32_t seq = next_seq_++;
  request->nlmsg_seq = seq;
  if (int error = SendAll(reinterpret_cast<const char*>(request), request->nlmsg_len)) return error;
  while (true) {
    ssize_t received = recv(fd_.get(), buffers_.data(), buffers_.size(), 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    int length = static_cast<int>(received);
    for (const nlmsghdr* message = reinterpret_cast<const nlmsghdr*>(buffers_.data()); NLMSG_OK(message, length);
         message = NLMSG_NEXT(message, length)) {
      if (message->nlmsg_seq != seq) continue;
      if (message->nlmsg_type == NLMSG_DONE) return 0;
      if (message->nlmsg_type == NLMSG_ERROR) return NetlinkErrno(message);
      on_message(message);
    }
  }
}

}  // namespace vmmstats
