{
  "targets": [
    {
      "target_name": "vmm_stats",
      "sources": [ "native/addon.cc", "native/host_addon.cc", "native/limits_posix.cc",
                   "native/acceptor_posix.cc" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS" ],
      "cflags_cc": [ "-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra" ],
      "cflags_cc!": [ "-fno-exceptions" ],
      "conditions": [
        [ "OS=='linux'", {
          "sources": [ "native/process_linux.cc", "native/interfaces_linux.cc", "native/vmm_linux.cc",
                       "native/kvm_stats_linux.cc", "native/netlink_linux.cc", "native/peer_linux.cc" ]
        } ],
        # FreeBSD: process and tap counters on every architecture; bhyve's counters on x64 only, since
        # libvmmapi and vmmapi.h are built where bhyve is. The x64 part is a top-level condition of its own
        # (not nested under OS=='freebsd') so that ../shared/tools/freebsd-build-check, which reads the
        # top-level conditions only, compiles and links exactly what an amd64 host builds.
        [ "OS=='freebsd'", {
          "sources": [ "native/process_freebsd.cc", "native/interfaces_freebsd.cc", "native/freebsd_logic.cc",
                       "native/peer_freebsd.cc" ],
          # The listening socket's accepting thread (native/acceptor_posix.cc): libthr.
          "libraries": [ "-lpthread" ],
          "conditions": [
            [ "target_arch!='x64'", { "sources": [ "native/vmm_unsupported_freebsd.cc" ] } ]
          ]
        } ],
        [ "OS=='freebsd' and target_arch=='x64'", {
          "sources": [ "native/vmm_freebsd.cc" ],
          "libraries": [ "-lvmmapi" ]
        } ]
      ]
    }
  ]
}
