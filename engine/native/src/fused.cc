// The engine's fused operations (engine/model/fused.ts): each reads its inputs once and writes one
// output, where the composite of tfjs ops it replaces allocates and walks a tensor per step.
#include <cblas.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#include "kernels.h"

namespace dl {

namespace {

// sum of a[j] * b[j] (* c[j]) in double, in four lanes so the loop is not one serial chain of adds.
inline double dot(const float* a, const float* b, int64_t n) {
  double s[4] = {0, 0, 0, 0};
  const int64_t body = n - n % 4;
  for (int64_t j = 0; j < body; j += 4)
    for (int k = 0; k < 4; ++k) s[k] += static_cast<double>(a[j + k]) * b[j + k];
  for (int64_t j = body; j < n; ++j) s[0] += static_cast<double>(a[j]) * b[j];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

inline double dot3(const float* a, const float* b, const float* c, int64_t n) {
  double s[4] = {0, 0, 0, 0};
  const int64_t body = n - n % 4;
  for (int64_t j = 0; j < body; j += 4)
    for (int k = 0; k < 4; ++k) s[k] += static_cast<double>(a[j + k]) * b[j + k] * c[j + k];
  for (int64_t j = body; j < n; ++j) s[0] += static_cast<double>(a[j]) * b[j] * c[j];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// 1 / sqrt(mean(x^2) + eps) of one row, the mean accumulated in double.
inline float inverseRms(const float* x, int64_t cols, float eps) {
  const float ms = static_cast<float>(dot(x, x, cols) / static_cast<double>(cols));
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(ms + eps)));
}

}  // namespace

void attentionProbabilities(const float* q, const float* kT, const float* mask, float* out, int64_t batch, int64_t m, int64_t n,
                            int64_t k, bool maskPerBatch, float scale) {
  if (m == 0 || n == 0) return;
  // Blocks of rows of about 128 KiB: scale * q kT straight out of the GEMM (alpha), then the mask and the
  // softmax while the block is still in cache.
  const int64_t block = std::max<int64_t>(1, (32 << 10) / n);
  threadsFor(std::min(block, m), n, k);  // the block's GEMM, not the previous call's thread count
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r0 = 0; r0 < m; r0 += block) {
      const int64_t rows = std::min(block, m - r0);
      float* o = out + (b * m + r0) * n;
      if (k == 0) std::memset(o, 0, rows * n * sizeof(float));
      else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, scale, q + (b * m + r0) * k, k, kT + b * k * n, n, 0.0f, o, n);
      const float* mk = mask + ((maskPerBatch ? b * m : 0) + r0) * n;
      for (int64_t i = 0; i < rows * n; ++i) o[i] += mk[i];
      softmax(o, o, rows, n);
    }
  }
}

void attentionProbabilitiesGrad(const float* p, const float* dy, float* out, int64_t rows, int64_t cols, float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = p + r * cols;
    const float* dr = dy + r * cols;
    float* o = out + r * cols;
    const float s = static_cast<float>(dot(pr, dr, cols));
    for (int64_t j = 0; j < cols; ++j) o[j] = scale * (pr[j] * (dr[j] - s));
  }
}

void rmsNorm(const float* x, const float* w, float* out, int64_t rows, int64_t cols, float eps) {
  if (cols == 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* o = out + r * cols;
    const float inv = inverseRms(xr, cols, eps);
    for (int64_t j = 0; j < cols; ++j) o[j] = (xr[j] * inv) * w[j];
  }
}

void rmsNormGradX(const float* x, const float* w, const float* dy, float* dx, int64_t rows, int64_t cols, float eps) {
  if (cols == 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* dr = dy + r * cols;
    float* o = dx + r * cols;
    const float inv = inverseRms(xr, cols, eps);
    // y = x r w with r = (mean(x^2) + eps)^-1/2: dx = r (dy w) - x r^3 mean(dy w x).
    const float c = static_cast<float>(static_cast<double>(inv) * inv * inv * dot3(dr, w, xr, cols) / static_cast<double>(cols));
    for (int64_t j = 0; j < cols; ++j) o[j] = inv * (dr[j] * w[j]) - xr[j] * c;
  }
}

void addLowRank(const float* base, const float* xa, const float* bT, float* out, int64_t n, int64_t r, int64_t cols, float scale) {
  // One GEMM accumulating into a copy of base (beta = 1), the scale as its alpha: no pass over the
  // [n, cols] product to scale it and none to add it.
  std::memcpy(out, base, n * cols * sizeof(float));
  threadsFor(n, cols, r);
  if (n > 0 && cols > 0 && r > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cols, r, scale, xa, r, bT, cols, 1.0f, out, cols);
}

void rmsNormGradW(const float* x, const float* dy, float* dw, int64_t rows, int64_t cols, float eps) {
  std::vector<double> acc(cols, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* dr = dy + r * cols;
    const float inv = inverseRms(xr, cols, eps);
    for (int64_t j = 0; j < cols; ++j) acc[j] += static_cast<double>(dr[j]) * (xr[j] * inv);
  }
  for (int64_t j = 0; j < cols; ++j) dw[j] = static_cast<float>(acc[j]);
}

}  // namespace dl
