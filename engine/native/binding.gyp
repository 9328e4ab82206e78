# The native backend's addon: N-API only (headers from the node-api-headers package). Linux: OpenBLAS
# linked statically (Debian's libopenblas-pthread-dev) so the shipped .node needs no BLAS on the user's
# machine; portable x86-64-v2 code, never -march=native (the binary goes into the .vsix). macOS: Apple's
# Accelerate (part of the OS), through the same cblas calls (src/blas.h).
{
  "variables": {
    # Nested: a variable is visible to the ones of the enclosing dict, not to its siblings.
    "variables": {
      "multiarch%": "<!(node -p \"process.platform === 'linux' ? require('child_process').execSync('gcc -print-multiarch').toString().trim() : ''\")",
    },
    # No FP traps or errno: lets selects and sqrt vectorise; IEEE results are unchanged (no fast-math).
    # -Wno-psabi: the 32-byte vector helpers are internal (inlined), no ABI crosses the addon's edge.
    "cxx_flags": ["-std=c++17", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off", "-Wno-psabi"],
    "openblas_dir%": "<!(node -p \"process.env.OPENBLAS_DIR || '/usr/lib/<(multiarch)/openblas-pthread'\")",
    "openblas_include%": "<!(node -p \"process.env.OPENBLAS_INCLUDE || '/usr/include/<(multiarch)/openblas-pthread'\")",
  },
  "targets": [
    {
      "target_name": "difflora_native",
      "sources": ["src/addon.cc", "src/allocator.cc", "src/elementwise.cc", "src/fused.cc", "src/fused-elementwise.cc", "src/fused-train.cc", "src/gemm.cc", "src/layout.cc", "src/load.cc"],
      "include_dirs": ["<!(node -p \"require('node-api-headers').include_dir\")"],
      "cflags_cc": ["<@(cxx_flags)"],
      "conditions": [
        ["OS=='mac'", {
          "defines": ["DL_ACCELERATE"],
          "libraries": ["-framework Accelerate"],
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_CPLUSPLUSFLAGS": ["<@(cxx_flags)"],
          },
        }, {
          "include_dirs": ["<(openblas_include)"],
          "libraries": ["<(openblas_dir)/libopenblas.a", "-lpthread", "-lm", "-Wl,--exclude-libs,ALL", "-Wl,--gc-sections", "-s"],
        }],
        ["target_arch=='x64' and OS!='mac'", {"cflags_cc": ["-march=x86-64-v2", "-mtune=generic"]}],
      ],
    },
  ],
}
