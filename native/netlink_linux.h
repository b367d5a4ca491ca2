// Linux plumbing shared by the process and interface readers: owned descriptors, a cache that forgets what
// was not asked for lately, and a netlink socket that sends many requests in one write and takes the
// replies in few system calls.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <unordered_map>
#include <vector>

namespace vmmstats {

// A file descriptor closed when its owner goes.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void Reset(int fd = -1);
  int Release();

 private:
  int fd_ = -1;
};

// Entries live while they are asked for: one not looked up in the last kKeepCalls calls is dropped (its
// value's destructor runs) by the sweep that the caller triggers once per call.
template <typename Key, typename Value>
class RecentCache {
 public:
  static constexpr uint64_t kKeepCalls = 16;

  // Starts a call; every kKeepCalls calls, forgets what the previous kKeepCalls calls did not use.
  void BeginCall() {
    ++call_;
    if (call_ % kKeepCalls != 0) return;
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = call_ - it->second.last_used > kKeepCalls ? entries_.erase(it) : std::next(it);
    }
  }

  // The entry for key, created empty if absent, marked as used by this call.
  Value& Use(const Key& key) {
    Entry& entry = entries_[key];
    entry.last_used = call_;
    return entry.value;
  }

  void Forget(const Key& key) { entries_.erase(key); }

 private:
  struct Entry {
    Value value{};
    uint64_t last_used = 0;
  };
  std::unordered_map<Key, Entry> entries_;
  uint64_t call_ = 0;
};

// A netlink socket for request/reply traffic. Both families used here answer a request inside the
// sendmsg that carries it, so the replies to a batch are all queued when the write returns.
class NetlinkSocket {
 public:
  // Opens and binds a socket of the protocol (NETLINK_ROUTE, NETLINK_GENERIC) with a receive buffer
  // large enough for batches of replies. Returns 0 or an errno.
  int Open(int protocol, size_t reply_buffer_bytes);

  // Sends requests laid out back to back in `requests` (each a whole nlmsghdr message; their nlmsg_seq is
  // overwritten), in chunks sized to the receive buffer, and hands every answer to
  // on_reply(position, message, error): error is 0 with the reply, or the errno of the NLMSG_ERROR that
  // answered, ENOBUFS for a reply a full queue dropped, EMSGSIZE for one too long to take (message null).
  // Returns 0, or an errno when the socket itself failed.
  using ReplyHandler = std::function<void(size_t position, const nlmsghdr* message, int error)>;
  int Transact(std::vector<char>* requests, const ReplyHandler& on_reply);

  // Sends one dump request (its nlmsg_seq is overwritten) and hands each message of the dump to on_message
  // until NLMSG_DONE. Returns 0, or the errno of the socket or of an NLMSG_ERROR answering the dump.
  using MessageHandler = std::function<void(const nlmsghdr* message)>;
  int Dump(nlmsghdr* request, const MessageHandler& on_message);

 private:
  int SendAll(const char* data, size_t size);
  int TransactChunk(char* requests, size_t bytes, size_t count, size_t first_position, const ReplyHandler& on_reply);

  UniqueFd fd_;
  size_t max_in_flight_ = 1;
  size_t reply_buffer_bytes_ = 0;
  std::vector<char> buffers_;
  uint32_t next_seq_ = 1;
};

// Calls on_attribute(type, data, length) for each attribute in a netlink payload.
template <typename Handler>
void ForEachAttribute(const void* payload, size_t length, Handler on_attribute) {
  const char* at = static_cast<const char*>(payload);
  const char* end = at + length;
  while (end - at >= static_cast<ptrdiff_t>(NLA_HDRLEN)) {
    const nlattr* attribute = reinterpret_cast<const nlattr*>(at);
    if (attribute->nla_len < NLA_HDRLEN || attribute->nla_len > end - at) return;
    on_attribute(static_cast<uint16_t>(attribute->nla_type & NLA_TYPE_MASK), at + NLA_HDRLEN,
                 static_cast<size_t>(attribute->nla_len - NLA_HDRLEN));
    at += NLA_ALIGN(attribute->nla_len);
  }
}

// Copies a fixed-size value out of an attribute that may be unaligned or, from another kernel version,
// shorter or longer than the struct: missing bytes stay zero.
template <typename T>
T AttributeValue(const void* data, size_t length) {
  T value{};
  std::memcpy(&value, data, length < sizeof value ? length : sizeof value);
  return value;
}

}  // namespace vmmstats
