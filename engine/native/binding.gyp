# The native backend's addon: N-API only (headers from the node-api-headers package), OpenBLAS linked
# statically (Debian's libopenblas-pthread-dev) so the shipped .node needs no BLAS on the user's machine.
# Portable x86-64-v2 code, never -march=native: the binary goes into the .vsix.
{
  "variables": {
    "openblas_dir%": "<!(node -p \"process.env.OPENBLAS_DIR || '/usr/lib/' + require('child_process').execSync('gcc -print-multiarch').toString().trim() + '/openblas-pthread'\")",
    "openblas_include%": "<!(node -p \"process.env.OPENBLAS_INCLUDE || '/usr/include/' + require('child_process').execSync('gcc -print-multiarch').toString().trim() + '/openblas-pthread'\")",
  },
  "targets": [
    {
      "target_name": "difflora_native",
      "sources": ["src/addon.cc", "src/allocator.cc", "src/elementwise.cc", "src/fused.cc", "src/fused-elementwise.cc", "src/fused-train.cc", "src/gemm.cc", "src/layout.cc", "src/load.cc"],
      "include_dirs": ["<!(node -p \"require('node-api-headers').include_dir\")", "<(openblas_include)"],
      # No FP traps or errno: lets selects and sqrt vectorise; IEEE results are unchanged (no fast-math).
      "cflags_cc": ["-std=c++17", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"],
      "conditions": [
        ["target_arch=='x64'", {"cflags_cc": ["-march=x86-64-v2", "-mtune=generic"]}],
      ],
      "libraries": ["<(openblas_dir)/libopenblas.a", "-lpthread", "-lm", "-Wl,--exclude-libs,ALL", "-Wl,--gc-sections", "-s"],
    },
  ],
}
