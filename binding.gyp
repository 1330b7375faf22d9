{
  # The Node-API addon: libbpf loader + ring reader + KernelSensor class.
  # It includes the BPF skeleton (bpf/.output/sensor.skel.h, made by
  # `make -C bpf`), which embeds the BPF object: the .node file is all the
  # sensor needs at run time. Override skel_dir to build against another
  # skeleton: node-gyp configure -- -Dskel_dir=/path
  "variables": {
    "skel_dir%": "<(module_root_dir)/bpf/.output"
  },
  "targets": [
    {
      "target_name": "agent_sensor",
      "sources": ["<!@(ls -1 native/src/*.c native/src/*.cc)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(skel_dir)",
        "<(module_root_dir)/bpf",
        "<(module_root_dir)/native/src"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
