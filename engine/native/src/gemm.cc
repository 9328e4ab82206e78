// The matMul family through cblas_sgemm (blas.h), and its thread setting.
#include <algorithm>
#include <cstring>
#include <string>
#include "blas.h"
#include "kernels.h"

namespace dl {

namespace {

int fixedThreads = 1;  // 0: chosen per call by the work of the call
int autoMax = 1;
double autoMinWork = 0;
int currentThreads = -1;

void useThreads(int n) {
  if (n == currentThreads) return;
#ifdef DL_ACCELERATE
  // Accelerate picks its own thread count (VECLIB_MAXIMUM_THREADS caps it); the macOS 15 SDK adds a
  // switch between one thread and its own choice, per calling thread.
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 150000
  if (__builtin_available(macOS 15.0, *)) BLASSetThreading(n > 1 ? BLAS_THREADING_MULTI_THREADED : BLAS_THREADING_SINGLE_THREADED);
#endif
#else
  openblas_set_num_threads(n);
#endif
  currentThreads = n;
}

}  // namespace

void matMul(const float* a, const float* b, float* out, int64_t batchA, int64_t batchB, int64_t m, int64_t n, int64_t k,
            bool transA, bool transB) {
  const int64_t batch = std::max(batchA, batchB);
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {  // an empty sum; BLAS would reject the zero leading dimension
    std::memset(out, 0, batch * m * n * sizeof(float));
    return;
  }
  const int64_t lda = transA ? m : k, ldb = transB ? k : n;
  threadsFor(m, n, k);
  for (int64_t i = 0; i < batch; ++i) {
    const float *ai = a + (i % batchA) * m * k, *bi = b + (i % batchB) * k * n;
    float* oi = out + i * m * n;
    if (m == 1) {
      // One row (a generated token): a matrix-vector product. OpenBLAS's sgemm would pack all of b
      // first, reading the weights twice where sgemv streams them once. out may be a recycled buffer
      // and BLAS may compute beta * y even for beta = 0 (0 * NaN = NaN): start from zeros.
      std::memset(oi, 0, n * sizeof(float));
      cblas_sgemv(CblasRowMajor, transB ? CblasNoTrans : CblasTrans, transB ? n : k, transB ? k : n, 1.0f, bi, ldb, ai, 1, 0.0f, oi, 1);
    } else {
      cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, ai, lda, bi,
                  ldb, 0.0f, oi, n);
    }
  }
}

void threadsFor(int64_t m, int64_t n, int64_t k) {
  useThreads(fixedThreads ? fixedThreads : static_cast<double>(m) * n * k >= autoMinWork ? autoMax : 1);
}

void setThreads(int n) {
  fixedThreads = n;
  useThreads(n);
}

void autoThreads(int maxThreads, double minWork) {
  fixedThreads = 0;
  autoMax = maxThreads;
  autoMinWork = minWork;
}

int threads() { return currentThreads; }

const char* blasInfo() {
#ifdef DL_ACCELERATE
  static const std::string info = "Apple Accelerate";
#else
  static const std::string info = std::string(openblas_get_config()) + ", core " + openblas_get_corename();
#endif
  return info.c_str();
}

}  // namespace dl
