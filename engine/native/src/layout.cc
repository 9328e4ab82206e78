// Kernels that move data without arithmetic: transpose, slice, gather, concat.
#include <cstring>
#include "walk.h"

namespace dl {

int64_t sizeOf(const Dims& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Dims contiguousStrides(const Dims& shape) {
  Dims s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

Dims broadcastStrides(const Dims& in, const Dims& out) {
  Dims s(out.size(), 0);
  int64_t stride = 1;
  for (int64_t i = static_cast<int64_t>(in.size()) - 1, o = static_cast<int64_t>(out.size()) - 1; i >= 0; --i, --o) {
    s[o] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  return s;
}

Walk collapse(const Dims& shape, const std::vector<Dims>& strides) {
  Walk w;
  w.strides.resize(strides.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !w.shape.empty();
    for (size_t k = 0; k < strides.size() && merge; ++k) merge = w.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      w.shape.back() *= shape[d];
      for (size_t k = 0; k < strides.size(); ++k) w.strides[k].back() = strides[k][d];
    } else {
      w.shape.push_back(shape[d]);
      for (size_t k = 0; k < strides.size(); ++k) w.strides[k].push_back(strides[k][d]);
    }
  }
  if (w.shape.empty()) {  // a scalar: one row of one element
    w.shape.push_back(1);
    for (auto& s : w.strides) s.push_back(0);
  }
  return w;
}

// out (contiguous, `shape`) = x read with `xStrides`.
static void copyStrided(const float* x, const Dims& xStrides, float* out, const Dims& shape) {
  if (sizeOf(shape) == 0) return;
  const Walk w = collapse(shape, {contiguousStrides(shape), xStrides});
  const int64_t s = w.strides[1].back();
  forEachRow(w, [&](const int64_t* off, int64_t n) {
    const float* src = x + off[1];
    float* dst = out + off[0];
    if (s == 1) {
      std::memcpy(dst, src, n * sizeof(float));
    } else {
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i * s];
    }
  });
}

void transpose(const float* x, const Dims& shape, const Dims& perm, float* out) {
  const Dims xs = contiguousStrides(shape);
  Dims outShape(shape.size()), strides(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    outShape[d] = shape[perm[d]];
    strides[d] = xs[perm[d]];
  }
  copyStrided(x, strides, out, outShape);
}

void slice(const float* x, const Dims& shape, const Dims& begin, const Dims& size, float* out) {
  const Dims xs = contiguousStrides(shape);
  int64_t start = 0;
  for (size_t d = 0; d < shape.size(); ++d) start += begin[d] * xs[d];
  copyStrided(x + start, xs, out, size);
}

void gather(const float* x, const int32_t* idx, int64_t nIdx, float* out, int64_t outer, int64_t dim, int64_t slice) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < nIdx; ++i) {
      std::memcpy(out + (o * nIdx + i) * slice, x + (o * dim + idx[i]) * slice, slice * sizeof(float));
    }
  }
}

void concat(const std::vector<const float*>& parts, const Dims& widths, float* out, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t p = 0; p < parts.size(); ++p) {
      std::memcpy(out, parts[p] + r * widths[p], widths[p] * sizeof(float));
      out += widths[p];
    }
  }
}

}  // namespace dl
