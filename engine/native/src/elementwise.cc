// Element-wise kernels, softmax and reductions. Where tfjs's cpu kernel computes in JS doubles and
// stores a float, the float result is identical for one +, -, *, / or sqrt (double rounding is
// harmless at these widths); rsqrt and squared difference are computed in double here too. exp (also
// inside softmax, sigmoid and elu) is a vectorisable polynomial within 1 ulp of expf; log and tanh
// are libm's float functions: all within 1e-6 relative of tfjs's double-then-float results.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include "fastmath.h"
#include "walk.h"

namespace dl {

namespace {

template <class F>
void map(const float* x, float* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

// One row of a broadcast binary op, specialised for the common stride pairs so the loop vectorises.
template <class F>
void binaryRow(F f, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 0 && sb == 1) {
    const float x = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b[i]);
  } else if (sa == 1 && sb == 0) {
    const float y = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], y);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i * sa], b[i * sb]);
  }
}

template <class F>
void broadcast(F f, const float* a, const Dims& aShape, const float* b, const Dims& bShape, float* out, const Dims& outShape) {
  if (sizeOf(outShape) == 0) return;
  const Walk w = collapse(outShape, {contiguousStrides(outShape), broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)});
  const int64_t sa = w.strides[1].back(), sb = w.strides[2].back();
  forEachRow(w, [&](const int64_t* off, int64_t n) { binaryRow(f, a + off[1], sa, b + off[2], sb, out + off[0], n); });
}

// Max / Min of tfjs: starts from the first element; a NaN, once seen, stays.
template <bool IsMax>
inline float pick(float acc, float v) {
  return std::isnan(v) || (IsMax ? v > acc : v < acc) ? v : acc;
}

template <bool IsMax>
void extremum(const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    const float* xo = x + o * r * inner;
    float* oo = out + o * inner;
    for (int64_t j = 0; j < inner; ++j) oo[j] = r == 0 ? std::numeric_limits<float>::quiet_NaN() : xo[j];
    for (int64_t i = 1; i < r; ++i)
      for (int64_t j = 0; j < inner; ++j) oo[j] = pick<IsMax>(oo[j], xo[i * inner + j]);
  }
}

// Sum of a row in double (each element divided by d first for Mean, as tfjs does), in four lanes so
// that it vectorises.
template <bool Mean>
double rowSum(const float* x, int64_t n, float d) {
  double s[4] = {0, 0, 0, 0};
  const int64_t body = n - n % 4;
  for (int64_t j = 0; j < body; j += 4)
    for (int k = 0; k < 4; ++k) s[k] += Mean ? x[j + k] / d : x[j + k];
  for (int64_t j = body; j < n; ++j) s[0] += Mean ? x[j] / d : x[j];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Sum and Mean over the middle of [outer, r, inner], accumulated in double.
template <bool Mean>
void sum(const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  const float n = static_cast<float>(r);
  if (inner == 1) {
    for (int64_t o = 0; o < outer; ++o) out[o] = static_cast<float>(rowSum<Mean>(x + o * r, r, n));
    return;
  }
  std::vector<double> acc(inner);
  for (int64_t o = 0; o < outer; ++o) {
    const float* xo = x + o * r * inner;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < inner; ++j) acc[j] += Mean ? xo[i * inner + j] / n : xo[i * inner + j];
    for (int64_t j = 0; j < inner; ++j) out[o * inner + j] = static_cast<float>(acc[j]);
  }
}

}  // namespace

DL_VECTORIZED void unary(Unary op, const float* x, float* out, int64_t n, double alpha) {
  switch (op) {
    case Unary::Exp: return map(x, out, n, [](float v) { return fastExp(v); });
    case Unary::Neg: return map(x, out, n, [](float v) { return -v; });
    case Unary::Rsqrt: return map(x, out, n, [](float v) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(v))); });
    case Unary::Sqrt: return map(x, out, n, [](float v) { return std::sqrt(v); });
    case Unary::Square: return map(x, out, n, [](float v) { return v * v; });
    case Unary::Sigmoid: return map(x, out, n, [](float v) { return 1.0f / (1.0f + fastExp(-v)); });
    case Unary::Relu: return map(x, out, n, [](float v) { return jsMax(0.0f, v); });
    case Unary::Relu6: return map(x, out, n, [](float v) { return jsMin(jsMax(0.0f, v), 6.0f); });
    case Unary::Elu: return map(x, out, n, [](float v) { return v >= 0 ? v : fastExp(v) - 1.0f; });
    case Unary::LeakyRelu: return map(x, out, n, [alpha](float v) { return v < 0 ? static_cast<float>(alpha * v) : v; });
    case Unary::Log: return map(x, out, n, [](float v) { return std::log(v); });
    case Unary::Tanh: return map(x, out, n, [](float v) { return std::tanh(v); });
    case Unary::Abs: return map(x, out, n, [](float v) { return std::fabs(v); });
    case Unary::Floor: return map(x, out, n, [](float v) { return std::floor(v); });
    case Unary::Reciprocal: return map(x, out, n, [](float v) { return 1.0f / v; });
  }
}

DL_VECTORIZED void binary(Binary op, const float* a, const Dims& aShape, const float* b, const Dims& bShape, float* out, const Dims& outShape) {
  switch (op) {
    case Binary::Add: return broadcast([](float x, float y) { return x + y; }, a, aShape, b, bShape, out, outShape);
    case Binary::Sub: return broadcast([](float x, float y) { return x - y; }, a, aShape, b, bShape, out, outShape);
    case Binary::Multiply: return broadcast([](float x, float y) { return x * y; }, a, aShape, b, bShape, out, outShape);
    case Binary::RealDiv: return broadcast([](float x, float y) { return x / y; }, a, aShape, b, bShape, out, outShape);
    case Binary::Maximum: return broadcast(jsMax, a, aShape, b, bShape, out, outShape);
    case Binary::Minimum: return broadcast(jsMin, a, aShape, b, bShape, out, outShape);
    case Binary::SquaredDifference:
      return broadcast([](float x, float y) { const double d = static_cast<double>(x) - y; return static_cast<float>(d * d); },
                       a, aShape, b, bShape, out, outShape);
    case Binary::Prelu: return broadcast([](float x, float y) { return x < 0 ? y * x : x; }, a, aShape, b, bShape, out, outShape);
  }
}

// As tfjs: e = exp(x - max) in float, their sum in double rounded to float, then e / sum. A NaN
// anywhere makes the row NaN, as in tfjs: through the sum when the max skipped it.
DL_VECTORIZED void softmax(const float* x, float* out, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    const float sf = static_cast<float>(expShifted(xr, rowMax(xr, cols), orow, cols));
    for (int64_t i = 0; i < cols; ++i) orow[i] /= sf;
  }
}

DL_VECTORIZED void reduce(Reduce op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  switch (op) {
    case Reduce::Sum: return sum<false>(x, out, outer, r, inner);
    case Reduce::Mean: return sum<true>(x, out, outer, r, inner);
    case Reduce::Max: return extremum<true>(x, out, outer, r, inner);
    case Reduce::Min: return extremum<false>(x, out, outer, r, inner);
  }
}

}  // namespace dl
