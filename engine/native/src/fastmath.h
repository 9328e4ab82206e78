// Scalar helpers shared by the element-wise and fused kernels: inline, so the loops that call them
// vectorise.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

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

}  // namespace dl
