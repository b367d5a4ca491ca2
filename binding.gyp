{
  "targets": [
    {
      "target_name": "vmm_stats",
      "sources": [ "native/addon.cc" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS" ],
      "cflags_cc": [ "-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra" ],
      "cflags_cc!": [ "-fno-exceptions" ],
      "conditions": [
        [ "OS=='linux'", {
          "sources": [ "native/process_linux.cc", "native/interfaces_linux.cc", "native/vmm_linux.cc",
                       "native/kvm_stats_linux.cc", "native/netlink_linux.cc" ]
        } ],
        [ "OS=='freebsd'", {
          "sources": [ "native/process_freebsd.cc", "native/interfaces_freebsd.cc", "native/vmm_freebsd.cc",
                       "native/freebsd_logic.cc" ],
          "libraries": [ "-lvmmapi" ]
        } ]
      ]
    }
  ]
}
