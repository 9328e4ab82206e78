// The BLAS behind every GEMM: OpenBLAS (Linux, linked statically) or Apple's Accelerate (macOS,
// binding.gyp defines DL_ACCELERATE). Both take the same cblas calls; only threads and the name differ.
#pragma once
#ifdef DL_ACCELERATE
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif
