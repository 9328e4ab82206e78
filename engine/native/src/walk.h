// Strided walks: one loop nest for every broadcasting, transposing or slicing kernel.
#pragma once
#include <cstddef>
#include "kernels.h"

namespace dl {

// The shape of a walk and, per operand, the element stride of each of its dimensions.
struct Walk {
  Dims shape;
  std::vector<Dims> strides;
};

Dims contiguousStrides(const Dims& shape);
// Strides of `in` read as `out` under numpy broadcasting (0 where in is 1 or missing).
Dims broadcastStrides(const Dims& in, const Dims& out);
// Drops size-1 dimensions and merges neighbours contiguous in every operand, so most walks are one row.
Walk collapse(const Dims& shape, const std::vector<Dims>& strides);

// Calls row(offsets, n) for each innermost row of w: offsets[k] is where operand k's row starts.
template <class Row>
void forEachRow(const Walk& w, Row&& row) {
  const int64_t rank = static_cast<int64_t>(w.shape.size());
  const size_t ops = w.strides.size();
  Dims idx(rank, 0), off(ops, 0);
  for (;;) {
    row(off.data(), w.shape[rank - 1]);
    int64_t d = rank - 2;
    for (; d >= 0; --d) {
      for (size_t k = 0; k < ops; ++k) off[k] += w.strides[k][d];
      if (++idx[d] < w.shape[d]) break;
      for (size_t k = 0; k < ops; ++k) off[k] -= w.strides[k][d] * w.shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace dl
