// Fused operations of training (engine/model/fused.ts): the cross-entropy loss with its gradient, and
// AdamW's update of one parameter. Each reads its inputs once, where the composites allocate and walk
// a tensor per step (ten for AdamW, about eight over the logits for the loss).
#include <cmath>
#include <limits>
#include <vector>
#include "fastmath.h"
#include "kernels.h"

namespace dl {

namespace {

// log(sum(exp(x - max))) + max of one row, as tfjs's logSoftmax: x - max in float, the exps summed in
// double and rounded to float, then its float log. `finite`: no element is NaN or infinite.
struct RowLse {
  float max, lse;
  bool finite;
};

RowLse rowLse(const float* x, int64_t cols, float* scratch) {
  float least;
  const float mx = rowMax(x, cols, &least);
  const double sum = expShifted(x, mx, scratch, cols);
  // NaN or +inf anywhere makes the sum NaN; -inf shows as the least element.
  return {mx, std::log(static_cast<float>(sum)), !std::isnan(sum) && std::isfinite(mx) && std::isfinite(least)};
}

}  // namespace

DL_VECTORIZED double crossEntropy(const float* logits, const int32_t* labels, const float* w, int64_t rows, int64_t cols) {
  if (cols == 0) return 0;
  std::vector<float> scratch(cols);
  double loss = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * cols;
    const RowLse l = rowLse(x, cols, scratch.data());
    // The composite sums lp * onehot * w over the whole row: 0 * lp is NaN where lp is not finite, and
    // so is 0 * w for an infinite w.
    const int32_t label = labels[r];
    const bool hit = label >= 0 && label < cols;
    if (!l.finite || !std::isfinite(l.lse) || !std::isfinite(w[r])) {
      loss += std::numeric_limits<double>::quiet_NaN();
    } else if (hit) {
      loss += static_cast<double>(((x[label] - l.max) - l.lse) * w[r]);
    }
  }
  return -loss;
}

DL_VECTORIZED void crossEntropyGrad(const float* logits, const int32_t* labels, const float* w, float dy, float* dx, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * cols;
    float* o = dx + r * cols;
    const RowLse l = rowLse(x, cols, o);
    const float wr = w[r];
    // (softmax - onehot) * w * dy with softmax = exp(log-probabilities), as the composite's gradient.
    for (int64_t j = 0; j < cols; ++j) o[j] = (fastExp((x[j] - l.max) - l.lse) * wr) * dy;
    const int32_t label = labels[r];
    if (label >= 0 && label < cols) o[label] = ((fastExp((x[label] - l.max) - l.lse) - 1.0f) * wr) * dy;
  }
}

DL_VECTORIZED void adamw(const float* w, const float* g, const float* m, const float* v, float* wOut, float* mOut, float* vOut, int64_t n,
           const AdamWStep& s) {
  for (int64_t i = 0; i < n; ++i) {
    const float mi = m[i] * s.beta1 + g[i] * s.oneMinusBeta1;
    const float vi = v[i] * s.beta2 + (g[i] * g[i]) * s.oneMinusBeta2;
    mOut[i] = mi;
    vOut[i] = vi;
    const float update = (mi / s.bc1) / (std::sqrt(vi / s.bc2) + s.eps);
    wOut[i] = w[i] * s.decay - update * s.lr;
  }
}

}  // namespace dl
