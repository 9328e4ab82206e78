// Fused element-wise operations of the forward pass (engine/model/fused.ts) and their gradients: one
// pass over the inputs where the composite of tfjs ops walks (and allocates) a tensor per step. Each
// does the composite's float operations in the composite's order, so on finite inputs the forward
// results are those of the native backend's own kernels, bit for bit.
#include <cmath>
#include <limits>
#include "fastmath.h"
#include "kernels.h"

namespace dl {

DL_VECTORIZED void differentialAttention(const float* a1, const float* a2, float lambda, float* out, int64_t n, bool relu) {
  if (relu) {
    for (int64_t i = 0; i < n; ++i) out[i] = jsMax(0.0f, a1[i] - a2[i] * lambda);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = a1[i] - a2[i] * lambda;
  }
}

namespace {

// The loop of differentialAttentionGrad, one instance per relu setting so that each vectorises.
template <bool Relu>
double differentialGradLoop(const float* a2, const float* y, const float* dy, float lambda, float* da1, float* da2, int64_t n) {
  double s[4] = {0, 0, 0, 0};
  const int64_t body = n - n % 4;
  auto one = [&](int64_t i, int k) {
    const float g = Relu ? dy[i] * (y[i] > 0 ? 1.0f : 0.0f) : dy[i];
    da1[i] = g;
    da2[i] = -g * lambda;
    s[k] += static_cast<double>(-g * a2[i]);
  };
  for (int64_t i = 0; i < body; i += 4)
    for (int k = 0; k < 4; ++k) one(i + k, k);
  for (int64_t i = body; i < n; ++i) one(i, 0);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

}  // namespace

DL_VECTORIZED double differentialAttentionGrad(const float* a2, const float* y, const float* dy, float lambda, float* da1, float* da2, int64_t n,
                                 bool relu) {
  // As tfjs: relu's gradient is dy * step(x) (y > 0 exactly where x > 0), the subtraction's is (g, -g),
  // the product's (-g) lambda for A2 and sum((-g) A2) for lambda.
  if (!relu) return differentialGradLoop<false>(a2, y, dy, lambda, da1, da2, n);
  const double sum = differentialGradLoop<true>(a2, y, dy, lambda, da1, da2, n);
  // step(NaN) is NaN: patched afterwards, so that the main loop stays a select the compiler vectorises.
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= y[i] != y[i];
  if (!nan) return sum;
  // A NaN g makes the sum for d(lambda) NaN as well.
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] == y[i]) continue;
    da1[i] = std::numeric_limits<float>::quiet_NaN();
    da2[i] = da1[i];
  }
  return std::numeric_limits<double>::quiet_NaN();
}

DL_VECTORIZED void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = (g * (1.0f / (1.0f + fastExp(-g)))) * up[i];
  }
}

DL_VECTORIZED void swigluGrad(const float* gate, const float* up, const float* dy, float* dgate, float* dup, int64_t n) {
  // y = (g s) u with s = sigmoid(g): du = dy (g s); dg = dy u s + dy u g s (1 - s), in tfjs's order.
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], s = 1.0f / (1.0f + fastExp(-g));
    const float dt = dy[i] * up[i];
    dup[i] = dy[i] * (g * s);
    dgate[i] = dt * s + (dt * g) * (s * (1.0f - s));
  }
}

DL_VECTORIZED void rope(const float* x, const float* cos, const float* sin, float* out, int64_t outer, int64_t t, int64_t inner, int64_t d,
          bool transposed) {
  // rotate_half(x) = [-x2, x1]; its transpose (the gradient's) maps dy s to [(dy s)2, -(dy s)1].
  const int64_t h = d / 2;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t p = 0; p < t; ++p) {
      const float* c = cos + p * d;
      const float* s = sin + p * d;
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t row = ((o * t + p) * inner + j) * d;
        const float* xr = x + row;
        float* orow = out + row;
        if (!transposed) {
          for (int64_t i = 0; i < h; ++i) orow[i] = xr[i] * c[i] + -xr[i + h] * s[i];
          for (int64_t i = h; i < d; ++i) orow[i] = xr[i] * c[i] + xr[i - h] * s[i];
        } else {
          for (int64_t i = 0; i < h; ++i) orow[i] = xr[i] * c[i] + xr[i + h] * s[i + h];
          for (int64_t i = h; i < d; ++i) orow[i] = xr[i] * c[i] - xr[i - h] * s[i - h];
        }
      }
    }
  }
}

namespace {

// splitmix64's output function: a bijection of 64-bit words whose outputs for consecutive inputs
// are statistically independent (it passes BigCrush as a generator over a counter).
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

DL_VECTORIZED void dropout(const float* x, float* out, int64_t n, double rate, uint64_t seed) {
  // Element i is kept when its uniform u_i = (24 bits of mix64(key + i * golden)) / 2^24 >= rate: a
  // counter-based stream, so the mask depends only on (seed, i), whatever the threads or the order,
  // and the gradient recomputes it instead of storing it. Kept values are scaled by 1 / (1 - rate)
  // and dropped ones multiplied by 0, as tf.dropout does (in float32, so NaN/Inf x gives NaN).
  const uint64_t key = mix64(seed + 0x9E3779B97F4A7C15ull);
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(rate * 16777216.0));  // u >= rate <=> bits >= this
  const float scale = 1.0f / static_cast<float>(1.0 - rate);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t bits = mix64(key + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull) >> 40;
    out[i] = x[i] * (bits >= threshold ? scale : 0.0f);
  }
}

}  // namespace dl
