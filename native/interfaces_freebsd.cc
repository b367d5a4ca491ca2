// FreeBSD: interface counters from net.link.generic.ifdata.<index>.general (struct ifmibdata), one sysctl per
// interface after one ioctl that turns its name into an index.
#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/sysctl.h>

#include <net/if.h>
#include <net/if_mib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sampler.h"

namespace vmmstats {
namespace {

class FreeBsdInterfaceSampler : public InterfaceSampler {
 public:
  explicit FreeBsdInterfaceSampler(int socket) : socket_(socket) {}
  ~FreeBsdInterfaceSampler() override { close(socket_); }

  int Sample(const std::vector<std::string>& names, InterfaceCounters* out, int* errors) override {
    for (size_t i = 0; i < names.size(); i++) errors[i] = SampleOne(names[i], &out[i]);
    return 0;
  }

 private:
  // SIOCGIFINDEX on a socket kept open is what if_nametoindex(3) does with a socket of its own, but
  // if_nametoindex answers an unknown name by listing every interface with getifaddrs.
  int IndexOf(const std::string& name, int* index) {
    struct ifreq request;
    if (name.size() >= sizeof request.ifr_name) return ENODEV;
    std::memset(&request, 0, sizeof request);
    std::memcpy(request.ifr_name, name.data(), name.size());
    if (ioctl(socket_, SIOCGIFINDEX, &request) != 0) return errno == ENXIO ? ENODEV : errno;
    *index = request.ifr_index;
    return 0;
  }

  int SampleOne(const std::string& name, InterfaceCounters* out) {
    int index;
    if (int error = IndexOf(name, &index)) return error;
    int mib[] = {CTL_NET, PF_LINK, NETLINK_GENERIC, IFMIB_IFDATA, index, IFDATA_GENERAL};
    struct ifmibdata data;
    size_t size = sizeof data;
    if (sysctl(mib, nitems(mib), &data, &size, nullptr, 0) != 0) return errno == ENOENT ? ENODEV : errno;
    // The interface may have gone, and its index been reused, between the ioctl and the sysctl.
    if (std::strncmp(data.ifmd_name, name.c_str(), sizeof data.ifmd_name) != 0) return ENODEV;

    const struct if_data& counters = data.ifmd_data;
    *out = InterfaceCounters{
        static_cast<unsigned int>(data.ifmd_flags),
        static_cast<uint64_t>(data.ifmd_snd_len),
        static_cast<uint64_t>(data.ifmd_snd_maxlen),
        static_cast<uint64_t>(data.ifmd_snd_drops),
        counters.ifi_mtu,
        counters.ifi_baudrate,
        counters.ifi_ipackets,
        counters.ifi_ierrors,
        counters.ifi_opackets,
        counters.ifi_oerrors,
        counters.ifi_collisions,
        counters.ifi_ibytes,
        counters.ifi_obytes,
        counters.ifi_imcasts,
        counters.ifi_omcasts,
        counters.ifi_iqdrops,
#if __FreeBSD_version >= 1100000
        counters.ifi_oqdrops,
#else
        0,  // FreeBSD 10 shows ifi_oqdrops to the kernel only
#endif
    };
    return 0;
  }

  int socket_;
};

}  // namespace

int CreateInterfaceSampler(std::unique_ptr<InterfaceSampler>* out) {
  // The kernel answers SIOCGIFINDEX for any socket before it asks the socket's protocol, and AF_LOCAL is the
  // one family every kernel and jail has: an AF_INET socket cannot be had in a jail without IPv4 or on a
  // kernel built without INET.
  int socket = ::socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (socket < 0) return errno;
  out->reset(new FreeBsdInterfaceSampler(socket));
  return 0;
}

}  // namespace vmmstats
