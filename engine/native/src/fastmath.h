// Scalar helpers shared by the element-wise and fused kernels: inline, so the loops that call them
// vectorise.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

// Hot loops are compiled for AVX-512, AVX2 and the portable baseline (x86-64-v2), one picked at load
// by the CPU (GCC's target_clones, a glibc ifunc); flatten inlines their helpers into each copy.
// binding.gyp's -ffp-contract=off keeps the copies bit-identical: wider vectors, same operations.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define DL_VECTORIZED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), flatten))
#else
#define DL_VECTORIZED
#endif

namespace dl {

// Math.max / Math.min: NaN wins, and +0 > -0.
inline float jsMax(float x, float y) {
  if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<float>::quiet_NaN();
  return x > y || (x == y && !std::signbit(x)) ? x : y;
}
inline float jsMin(float x, float y) {
  if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<float>::quiet_NaN();
  return x < y || (x == y && std::signbit(x)) ? x : y;
}

inline float bitsToFloat(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

inline int32_t floatToBits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// exp(x) without a libm call, so loops over it vectorise (libm's expf also takes a slow path for
// every underflow, i.e. for each -1e9 of an attention mask). Cephes' method: x = n ln2 + r with
// |r| <= ln2/2, a degree-6 polynomial for exp(r), then 2^n applied as two normal factors so that
// overflow gives +inf and denormal results round once. Clamping x to [-104, 89] keeps n in range and
// still gives exactly 0 and +inf beyond; a NaN stays NaN through the arithmetic. Within 1 ulp of the
// correctly rounded exp over the whole float range (checked exhaustively at a stride of 800 ulps).
inline float fastExp(float x) {
  const float xc = std::min(std::max(x, -104.0f), 89.0f);
  const float round = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer, kept in the low bits
  const float t = xc * 1.44269504088896341f + round;
  const float n = t - round;
  const int32_t e = floatToBits(t) - floatToBits(round), e1 = e >> 1, e2 = e - e1;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * bitsToFloat((e1 + 127) << 23) * bitsToFloat((e2 + 127) << 23);
}

// Eight float lanes (GCC/Clang vector extension): loops the auto-vectoriser leaves scalar, such as a
// max that must not reorder NaNs, written once for every vector width.
typedef float Lanes8 __attribute__((vector_size(32)));

inline Lanes8 load8(const float* p) {
  Lanes8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The largest element of x[0..n), n >= 1, skipping NaNs unless x[0] is one (a NaN row still turns
// into NaN downstream: exp(NaN - max) poisons the row's sum). `least` gets the smallest likewise.
inline float rowMax(const float* x, int64_t n, float* least = nullptr) {
  Lanes8 hi = Lanes8{} + x[0], lo = hi;
  const int64_t body = n - n % 8;
  for (int64_t j = 0; j < body; j += 8) {
    const Lanes8 v = load8(x + j);
    hi = v > hi ? v : hi;
    lo = v < lo ? v : lo;
  }
  float mx = hi[0], mn = lo[0];
  for (int k = 1; k < 8; ++k) {
    mx = hi[k] > mx ? hi[k] : mx;
    mn = lo[k] < mn ? lo[k] : mn;
  }
  for (int64_t j = body; j < n; ++j) {
    mx = x[j] > mx ? x[j] : mx;
    mn = x[j] < mn ? x[j] : mn;
  }
  if (least) *least = mn;
  return mx;
}

// out[j] = exp(x[j] - shift) for j < n; returns their sum, accumulated in double, element j in lane
// j % 4. Blocks of 16 (the last one padded, its padding adding exact zeros) go through a local array,
// so the loop vectorises whether or not out is x, and a short row costs no scalar tail.
inline double expShifted(const float* x, float shift, float* out, int64_t n) {
  typedef float F4 __attribute__((vector_size(16)));
  typedef double D4 __attribute__((vector_size(32)));
  D4 sum = {0, 0, 0, 0};
  for (int64_t j = 0; j < n; j += 16) {
    const int64_t len = std::min<int64_t>(16, n - j);
    float e[16];
    if (len == 16) std::memcpy(e, x + j, sizeof e);  // constant sizes: inlined moves, no libc call
    else
      for (int k = 0; k < 16; ++k) e[k] = k < len ? x[j + k] : 0.0f;
    for (int k = 0; k < 16; ++k) e[k] = k < len ? fastExp(e[k] - shift) : 0.0f;
    if (len == 16) std::memcpy(out + j, e, sizeof e);
    else
      for (int k = 0; k < len; ++k) out[j + k] = e[k];
    for (int k = 0; k < 16; k += 4) {
      F4 f;
      std::memcpy(&f, e + k, sizeof f);
      sum += __builtin_convertvector(f, D4);
    }
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

}  // namespace dl
