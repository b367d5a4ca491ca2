{
  "targets": [
    {
      "target_name": "vmm_stats",
      "sources": [ "native/addon.cc" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS" ],
      "cflags_cc": [ "-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra" ],
      "cflags_cc!": [ "-fno-exceptions" ]
    }
  ]
}
