// Linux: interface counters from rtnetlink RTM_GETLINK messages, which carry the name, flags, MTU, queue
// length and 64-bit statistics of one link each.
//
// The seed's ifdata fields, from that message:
//   flags            ifi_flags (Linux IFF_* values, IFF_LOWER_UP and IFF_DORMANT included)
//   send_length      0: the queue's current backlog belongs to the qdisc and is not in the link message
//   max_send_length  IFLA_TXQLEN, the transmit queue length
//   send_drops       0: qdisc drops are not in the link message; the driver's tx_dropped is output_dropped
//   mtu              IFLA_MTU
//   baudrate         the ethtool link speed in Mb/s × 10^6 (what /sys/class/net/<if>/speed shows), 0 when
//                    the kernel does not know it or the link is down; read once per interface and again
//                    when its UP, RUNNING or LOWER_UP flag changes (a new speed comes with a carrier change)
//   input_*          rx_*: on a VM's tap, what the VMM writes to /dev/net/tun, i.e. what the VM sends, is
//                    what the host receives on the tap, so input = from the VM
//   input_packets    rx_packets      output_packets   tx_packets
//   input_errors     rx_errors       output_errors    tx_errors
//   input_bytes      rx_bytes        output_bytes     tx_bytes
//   input_mcast      multicast       output_mcast     0: Linux counts received multicast only
//   input_dropped    rx_dropped      output_dropped   tx_dropped
//   collisions       collisions
//
// Many names in one call are answered either by one dump of every link or by one RTM_GETLINK request per
// name, all written at once and read back with recvmmsg. A dump costs per link on the host whatever is
// asked, a request per name asked, and a request costs somewhat more than a link's share of a dump
// (BENCHMARKS.md, "Design measurements"), so a call dumps when it asks for at least 3/4 as many names as
// the last dump saw links (before any dump, as if there were 32). A name a dump did not show is
// then asked for by name, so that an interface added or renamed during the dump is not reported missing
// by mistake. The link count is only learnt from dumps: a collector asking for most links dumps every
// call and keeps it current; one asking for a few never needs it.
// VMM_STATS_LINK_STRATEGY=dump or =request in the environment forces one way (for tests and benches).
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "netlink_linux.h"
#include "sampler.h"

namespace vmmstats {
namespace {

// Room for one RTM_NEWLINK reply: about 1.5 KiB without per-VF data, which is not asked for.
constexpr size_t kLinkReplyBytes = 8192;
// Before any dump, how many links a host is assumed to have.
constexpr size_t kAssumedLinks = 32;
// The flags whose change may come with a new link speed.
constexpr uint32_t kLinkStateFlags = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

enum class Strategy { kAuto, kDump, kRequest };

Strategy StrategyFromEnvironment() {
  const char* value = getenv("VMM_STATS_LINK_STRATEGY");
  if (value == nullptr) return Strategy::kAuto;
  if (std::strcmp(value, "dump") == 0) return Strategy::kDump;
  if (std::strcmp(value, "request") == 0) return Strategy::kRequest;
  return Strategy::kAuto;
}

struct LinkSpeed {
  bool known = false;
  uint32_t state_flags = 0;
  uint64_t baudrate = 0;
};

// What one RTM_NEWLINK message says about its link.
struct LinkMessage {
  int index = 0;
  uint32_t flags = 0;
  std::string_view name;
  uint32_t mtu = 0;
  uint32_t txqlen = 0;
  rtnl_link_stats64 stats{};
};

LinkMessage ParseLink(const nlmsghdr* message) {
  LinkMessage link;
  const auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(message));
  link.index = info->ifi_index;
  link.flags = info->ifi_flags;
  const char* attributes = reinterpret_cast<const char*>(info) + NLMSG_ALIGN(sizeof *info);
  ForEachAttribute(attributes, message->nlmsg_len - NLMSG_LENGTH(sizeof *info),
                   [&](uint16_t type, const void* data, size_t length) {
                     switch (type) {
                       case IFLA_IFNAME:
                         link.name = std::string_view(static_cast<const char*>(data), strnlen(static_cast<const char*>(data), length));
                         break;
                       case IFLA_MTU:
                         link.mtu = AttributeValue<uint32_t>(data, length);
                         break;
                       case IFLA_TXQLEN:
                         link.txqlen = AttributeValue<uint32_t>(data, length);
                         break;
                       case IFLA_STATS64:
                         link.stats = AttributeValue<rtnl_link_stats64>(data, length);
                         break;
                       default:
                         break;
                     }
                   });
  return link;
}

class LinuxInterfaceSampler : public InterfaceSampler {
 public:
  int Open();
  int Sample(const std::vector<std::string>& names, InterfaceCounters* out, int* errors) override;

 private:
  bool ShouldDump(size_t requested) const;
  void IndexNames(const std::vector<std::string>& names);
  int SampleByDump(const std::vector<std::string>& names, InterfaceCounters* out);
  int SampleByRequest(const std::vector<std::string>& names, const std::vector<size_t>& rows, InterfaceCounters* out,
                      int* errors);
  void Fill(const LinkMessage& link, const std::string& name, InterfaceCounters* out);
  uint64_t Baudrate(const LinkMessage& link, const std::string& name);
  uint64_t EthtoolBaudrate(const std::string& name) const;

  NetlinkSocket socket_;
  UniqueFd ioctl_socket_;
  Strategy strategy_ = StrategyFromEnvironment();
  size_t links_seen_ = 0;
  RecentCache<int, LinkSpeed> speeds_;
  std::vector<char> requests_;
  std::vector<size_t> asked_;
  std::vector<size_t> missing_;
  std::vector<bool> found_;
  // The names of the last dump, and for each the row where it first appears.
  std::vector<std::string> indexed_names_;
  std::unordered_map<std::string_view, size_t> row_of_name_;
  std::vector<size_t> first_row_;
};

int LinuxInterfaceSampler::Open() {
  if (int error = socket_.Open(NETLINK_ROUTE, kLinkReplyBytes)) return error;
  ioctl_socket_.Reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  return ioctl_socket_ ? 0 : errno;
}

bool LinuxInterfaceSampler::ShouldDump(size_t requested) const {
  switch (strategy_) {
    case Strategy::kDump:
      return true;
    case Strategy::kRequest:
      return false;
    case Strategy::kAuto:
      break;
  }
  return requested * 4 >= (links_seen_ != 0 ? links_seen_ : kAssumedLinks) * 3;
}

int LinuxInterfaceSampler::Sample(const std::vector<std::string>& names, InterfaceCounters* out, int* errors) {
  speeds_.BeginCall();
  missing_.clear();
  for (size_t row = 0; row < names.size(); row++) {
    out[row] = InterfaceCounters{};
    errors[row] = 0;
  }
  if (ShouldDump(names.size())) {
    if (int error = SampleByDump(names, out)) return error;
  } else {
    for (size_t row = 0; row < names.size(); row++) missing_.push_back(row);
  }
  return SampleByRequest(names, missing_, out, errors);
}

// A collector asks for the same names tick after tick: the index is built again only when they change.
void LinuxInterfaceSampler::IndexNames(const std::vector<std::string>& names) {
  if (names == indexed_names_) return;
  indexed_names_ = names;
  row_of_name_.clear();
  first_row_.resize(names.size());
  for (size_t row = 0; row < names.size(); row++) {
    first_row_[row] = row_of_name_.emplace(indexed_names_[row], row).first->second;
  }
}

// Fills the rows whose name the dump shows; leaves the others in missing_.
int LinuxInterfaceSampler::SampleByDump(const std::vector<std::string>& names, InterfaceCounters* out) {
  IndexNames(names);
  found_.assign(names.size(), false);
  size_t links = 0;
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  int error = socket_.Dump(&request.header, [&](const nlmsghdr* message) {
    if (message->nlmsg_type != RTM_NEWLINK) return;
    links++;
    LinkMessage link = ParseLink(message);
    auto it = row_of_name_.find(link.name);
    if (it == row_of_name_.end()) return;
    Fill(link, names[it->second], &out[it->second]);
    found_[it->second] = true;
  });
  if (error != 0) return error;
  links_seen_ = links;

  for (size_t row = 0; row < names.size(); row++) {
    if (found_[row]) continue;
    const size_t first = first_row_[row];
    if (found_[first]) {  // the same name asked for twice
      out[row] = out[first];
    } else {
      missing_.push_back(row);
    }
  }
  return 0;
}

int LinuxInterfaceSampler::SampleByRequest(const std::vector<std::string>& names, const std::vector<size_t>& rows,
                                           InterfaceCounters* out, int* errors) {
  requests_.clear();
  asked_.clear();
  for (size_t row : rows) {
    const std::string& name = names[row];
    // No interface can have such a name; the kernel would answer EINVAL.
    if (name.empty() || name.size() >= IFNAMSIZ) {
      errors[row] = ENODEV;
      continue;
    }
    const size_t start = requests_.size();
    const size_t length = NLMSG_LENGTH(sizeof(ifinfomsg)) + RTA_LENGTH(name.size() + 1);
    requests_.resize(start + NLMSG_ALIGN(length), 0);
    auto* header = reinterpret_cast<nlmsghdr*>(requests_.data() + start);
    header->nlmsg_len = static_cast<uint32_t>(length);
    header->nlmsg_type = RTM_GETLINK;
    header->nlmsg_flags = NLM_F_REQUEST;
    auto* attribute = reinterpret_cast<rtattr*>(requests_.data() + start + NLMSG_LENGTH(sizeof(ifinfomsg)));
    attribute->rta_type = IFLA_IFNAME;
    attribute->rta_len = static_cast<unsigned short>(RTA_LENGTH(name.size() + 1));
    std::memcpy(RTA_DATA(attribute), name.c_str(), name.size() + 1);
    asked_.push_back(row);
  }
  if (asked_.empty()) return 0;
  return socket_.Transact(&requests_, [&](size_t position, const nlmsghdr* message, int error) {
    const size_t row = asked_[position];
    errors[row] = error;
    if (message != nullptr) Fill(ParseLink(message), names[row], &out[row]);
  });
}

void LinuxInterfaceSampler::Fill(const LinkMessage& link, const std::string& name, InterfaceCounters* out) {
  const rtnl_link_stats64& stats = link.stats;
  *out = InterfaceCounters{
      link.flags,
      0,  // send_length
      link.txqlen,
      0,  // send_drops
      link.mtu,
      Baudrate(link, name),
      stats.rx_packets,
      stats.rx_errors,
      stats.tx_packets,
      stats.tx_errors,
      stats.collisions,
      stats.rx_bytes,
      stats.tx_bytes,
      stats.multicast,
      0,  // output_mcast
      stats.rx_dropped,
      stats.tx_dropped,
  };
}

uint64_t LinuxInterfaceSampler::Baudrate(const LinkMessage& link, const std::string& name) {
  LinkSpeed& speed = speeds_.Use(link.index);
  const uint32_t state = link.flags & kLinkStateFlags;
  if (!speed.known || speed.state_flags != state) {
    // As /sys/class/net/<if>/speed: a link that is down has no speed (a tap would claim 10 Gb/s).
    speed = LinkSpeed{true, state, (link.flags & IFF_UP) != 0 ? EthtoolBaudrate(name) : 0};
  }
  return speed.baudrate;
}

// ETHTOOL_GSET is the oldest form of the query and answers on every kernel; the speed is the same one
// ETHTOOL_GLINKSETTINGS gives.
uint64_t LinuxInterfaceSampler::EthtoolBaudrate(const std::string& name) const {
  ethtool_cmd command{};
  command.cmd = ETHTOOL_GSET;
  ifreq request{};
  std::memcpy(request.ifr_name, name.c_str(), std::min(name.size(), sizeof request.ifr_name - 1));
  request.ifr_data = reinterpret_cast<char*>(&command);
  if (ioctl(ioctl_socket_.get(), SIOCETHTOOL, &request) != 0) return 0;  // no ethtool: speed unknown
  const uint32_t megabits = ethtool_cmd_speed(&command);
  if (megabits == 0 || megabits == static_cast<uint32_t>(SPEED_UNKNOWN)) return 0;
  return static_cast<uint64_t>(megabits) * 1000000;
}

}  // namespace

int CreateInterfaceSampler(std::unique_ptr<InterfaceSampler>* out) {
  auto sampler = std::make_unique<LinuxInterfaceSampler>();
  if (int error = sampler->Open()) return error;
  *out = std::move(sampler);
  return 0;
}

}  // namespace vmmstats
