// The engine's fused operations (engine/model/fused.ts): each reads its inputs once and writes one
// output, where the composite of tfjs ops it replaces allocates and walks a tensor per step.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#include "blas.h"
#include "fastmath.h"
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

namespace {

// A mask entry at or below this is "masked" (llama.ts writes -1e9; -inf is too).
constexpr float kMasked = -1e9f;

// A mask row: its trailing masked entries start at `live` (n when the last entry is not masked or all
// are); `least` and `most` bound the entries before, `nan` says whether one of those is NaN.
struct MaskRow {
  int64_t live;
  float least, most;
  bool nan;
  bool zeros() const { return !nan && least == 0 && most == 0; }  // adding it changes no score
};

MaskRow scanMaskRow(const float* mask, int64_t n) {
  int64_t live = n;
  const Lanes8 masked = Lanes8{} + kMasked;
  while (live >= 8) {  // eight at a time: a causal row's masked tail is half the row on average
    const auto dead = load8(mask + live - 8) <= masked;
    bool all = true;
    for (int k = 0; k < 8; ++k) all &= dead[k] != 0;
    if (!all) break;
    live -= 8;
  }
  while (live > 0 && mask[live - 1] <= kMasked) --live;
  if (live == 0) live = n;  // masked everywhere: the softmax of the whole row (uniform), as the composite
  MaskRow row{live, 0, 0, false};
  row.most = rowMax(mask, live, &row.least);
  // rowMax skips NaNs (but for the first element): a NaN is the one entry outside [least, most].
  const Lanes8 lo = Lanes8{} + row.least, hi = Lanes8{} + row.most;
  const int64_t body = live - live % 8;
  for (int64_t j = 0; j < body; j += 8) {
    const Lanes8 v = load8(mask + j);
    const auto in = (v >= lo) & (v <= hi);
    for (int k = 0; k < 8; ++k) row.nan |= in[k] == 0;
  }
  for (int64_t j = body; j < live; ++j) row.nan |= !(mask[j] >= row.least && mask[j] <= row.most);
  return row;
}

// How many leading columns of a score row can be non-zero after the softmax: the masked tail comes
// out as exact zeros when even the largest possible score there, `bound` = scale |q_i| max_j |k_j|
// (Cauchy-Schwarz), stays 104 (fastExp's exact-zero point) below the smallest possible row max,
// -bound + the largest unmasked mask entry; 200 leaves room for rounding. A causal row of query i at
// offset o keeps o + i + 1 columns. n, i.e. no skipping, for a NaN in the mask or scores large or
// non-finite enough that the bound fails.
int64_t liveColumns(const MaskRow& row, int64_t n, double bound) {
  return row.live < n && !row.nan && 2 * bound + kMasked - row.most <= -200 ? row.live : n;
}

}  // namespace

DL_VECTORIZED void attentionProbabilities(const float* q, const float* kT, const float* mask, float* out, int64_t batch, int64_t m,
                                          int64_t n, int64_t k, int64_t maskRows, float scale) {
  if (m == 0 || n == 0) return;
  // Blocks of rows of about 128 KiB: scale * q kT straight out of the GEMM (alpha), then the mask and the
  // softmax while the block is still in cache. Under a causal mask each block multiplies only the key
  // columns its rows can see (liveColumns): half the GEMM and the exps of a full square. Each mask row is
  // scanned once per call, and a row of zeros (a causal row's visible part) is not added at all.
  const int64_t block = std::max<int64_t>(1, (32 << 10) / n);
  std::vector<MaskRow> maskRow(maskRows);
  for (int64_t i = 0; i < maskRows; ++i) maskRow[i] = scanMaskRow(mask + i * n, n);
  std::vector<int64_t> live(block);
  std::vector<double> keySq(n);
  for (int64_t b = 0; b < batch; ++b) {
    const float* kb = kT + b * k * n;
    std::fill(keySq.begin(), keySq.end(), 0.0);  // |kT[:, j]|^2
    for (int64_t c = 0; c < k; ++c)
      for (int64_t j = 0; j < n; ++j) keySq[j] += static_cast<double>(kb[c * n + j]) * kb[c * n + j];
    const double keyNorm = std::sqrt(*std::max_element(keySq.begin(), keySq.end()));
    for (int64_t r0 = 0; r0 < m; r0 += block) {
      const int64_t rows = std::min(block, m - r0), t0 = b * m + r0;
      const float* qb = q + t0 * k;
      float* o = out + t0 * n;
      int64_t width = 0;
      for (int64_t i = 0; i < rows; ++i) {
        const double bound = std::abs(scale) * std::sqrt(dot(qb + i * k, qb + i * k, k)) * keyNorm;
        live[i] = liveColumns(maskRow[(t0 + i) % maskRows], n, bound);
        width = std::max(width, live[i]);
      }
      threadsFor(rows, width, k);  // this block's GEMM, not the previous call's thread count
      if (k == 0) std::memset(o, 0, rows * n * sizeof(float));
      else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, width, k, scale, qb, k, kb, n, 0.0f, o, n);
      for (int64_t i = 0; i < rows; ++i) {
        float* oi = o + i * n;
        const int64_t mr = (t0 + i) % maskRows;
        if (!maskRow[mr].zeros() || live[i] == n) {
          const float* mi = mask + mr * n;
          for (int64_t j = 0; j < live[i]; ++j) oi[j] += mi[j];
        }
        softmax(oi, oi, 1, live[i]);
        std::memset(oi + live[i], 0, (n - live[i]) * sizeof(float));
      }
    }
  }
}

DL_VECTORIZED void attentionProbabilitiesGrad(const float* p, const float* dy, float* out, int64_t rows, int64_t cols, float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = p + r * cols;
    const float* dr = dy + r * cols;
    float* o = out + r * cols;
    const float s = static_cast<float>(dot(pr, dr, cols));
    for (int64_t j = 0; j < cols; ++j) o[j] = scale * (pr[j] * (dr[j] - s));
  }
}

DL_VECTORIZED void rmsNorm(const float* x, const float* w, float* out, int64_t rows, int64_t cols, float eps) {
  if (cols == 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* o = out + r * cols;
    const float inv = inverseRms(xr, cols, eps);
    for (int64_t j = 0; j < cols; ++j) o[j] = (xr[j] * inv) * w[j];
  }
}

DL_VECTORIZED void rmsNormGradX(const float* x, const float* w, const float* dy, float* dx, int64_t rows, int64_t cols, float eps) {
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

DL_VECTORIZED void rmsNormGradW(const float* x, const float* dy, float* dw, int64_t rows, int64_t cols, float eps) {
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
