// N-API bindings of the native backend's kernels (node_api.h only, so one binary loads in Node and in
// VS Code's Electron). Callers pass Float32Arrays for inputs and a preallocated output; every length
// is checked against its shape here, so a wrong call throws instead of touching memory it does not own.
#define NAPI_VERSION 8
#include <node_api.h>
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include "kernels.h"

namespace {

using dl::Dims;

template <class E>
struct Named {
  const char* name;
  E value;
};

const Named<dl::Unary> kUnary[] = {
    {"Exp", dl::Unary::Exp}, {"Neg", dl::Unary::Neg}, {"Rsqrt", dl::Unary::Rsqrt}, {"Sqrt", dl::Unary::Sqrt},
    {"Square", dl::Unary::Square}, {"Sigmoid", dl::Unary::Sigmoid}, {"Relu", dl::Unary::Relu}, {"Relu6", dl::Unary::Relu6},
    {"Elu", dl::Unary::Elu}, {"LeakyRelu", dl::Unary::LeakyRelu}, {"Log", dl::Unary::Log}, {"Tanh", dl::Unary::Tanh},
    {"Abs", dl::Unary::Abs}, {"Floor", dl::Unary::Floor}, {"Reciprocal", dl::Unary::Reciprocal},
};
const Named<dl::Binary> kBinary[] = {
    {"Add", dl::Binary::Add}, {"Sub", dl::Binary::Sub}, {"Multiply", dl::Binary::Multiply}, {"RealDiv", dl::Binary::RealDiv},
    {"Maximum", dl::Binary::Maximum}, {"Minimum", dl::Binary::Minimum}, {"SquaredDifference", dl::Binary::SquaredDifference},
    {"Prelu", dl::Binary::Prelu},
};
const Named<dl::Reduce> kReduce[] = {
    {"Sum", dl::Reduce::Sum}, {"Max", dl::Reduce::Max}, {"Min", dl::Reduce::Min}, {"Mean", dl::Reduce::Mean},
};

// The arguments of one call. Accessors record the first problem; ok() throws it as a JS TypeError.
class Call {
 public:
  Call(napi_env env, napi_callback_info info) : env_(env) { napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr); }

  bool ok() {
    if (error_.empty()) return true;
    napi_throw_type_error(env_, nullptr, error_.c_str());
    return false;
  }

  int64_t integer(size_t i) {
    int64_t v = 0;
    if (napi_get_value_int64(env_, arg(i), &v) != napi_ok || v < 0) fail(i, "a non-negative integer");
    return v;
  }

  double number(size_t i) {
    double v = 0;
    if (napi_get_value_double(env_, arg(i), &v) != napi_ok) fail(i, "a number");
    return v;
  }

  bool flag(size_t i) {
    bool v = false;
    if (napi_get_value_bool(env_, arg(i), &v) != napi_ok) fail(i, "a boolean");
    return v;
  }

  Dims dims(size_t i) {
    Dims out;
    uint32_t n = 0;
    napi_value v = arg(i);
    if (napi_get_array_length(env_, v, &n) != napi_ok) {
      fail(i, "an array of integers");
      return out;
    }
    for (uint32_t j = 0; j < n; ++j) {
      napi_value e;
      int64_t d = 0;
      if (napi_get_element(env_, v, j, &e) != napi_ok || napi_get_value_int64(env_, e, &d) != napi_ok || d < 0) fail(i, "an array of integers");
      out.push_back(d);
    }
    return out;
  }

  // A Float32Array (or Int32Array) holding at least `need` elements.
  template <class T>
  T* array(size_t i, int64_t need) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    const napi_typedarray_type want = std::is_same<T, int32_t>::value ? napi_int32_array : napi_float32_array;
    if (napi_get_typedarray_info(env_, arg(i), &type, &length, &data, nullptr, nullptr) != napi_ok || type != want) {
      fail(i, want == napi_float32_array ? "a Float32Array" : "an Int32Array");
      return nullptr;
    }
    if (static_cast<int64_t>(length) < need) fail(i, ("an array of at least " + std::to_string(need) + " elements").c_str());
    return static_cast<T*>(data);
  }

  template <class E, size_t N>
  E named(size_t i, const Named<E> (&table)[N]) {
    char buf[32] = {0};
    size_t len = 0;
    if (napi_get_value_string_utf8(env_, arg(i), buf, sizeof buf, &len) == napi_ok) {
      for (const auto& t : table)
        if (std::strcmp(t.name, buf) == 0) return t.value;
    }
    fail(i, "a supported op name");
    return table[0].value;
  }

  napi_value arg(size_t i) { return i < argc_ ? argv_[i] : undefined(); }

  napi_value undefined() {
    napi_value u;
    napi_get_undefined(env_, &u);
    return u;
  }

  void fail(size_t i, const char* what) {
    if (error_.empty()) error_ = "argument " + std::to_string(i) + " must be " + what;
  }

  void check(bool condition, const char* what) {
    if (!condition && error_.empty()) error_ = what;
  }

 private:
  napi_env env_;
  size_t argc_ = 12;
  napi_value argv_[12];
  std::string error_;
};

// matMul(a, b, out, batchA, batchB, m, n, k, transA, transB)
napi_value MatMul(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t batchA = c.integer(3), batchB = c.integer(4), m = c.integer(5), n = c.integer(6), k = c.integer(7);
  c.check(batchA > 0 && batchB > 0, "batch sizes must be positive");
  const float* a = c.array<float>(0, batchA * m * k);
  const float* b = c.array<float>(1, batchB * k * n);
  float* out = c.array<float>(2, std::max(batchA, batchB) * m * n);
  const bool transA = c.flag(8), transB = c.flag(9);
  if (c.ok()) dl::matMul(a, b, out, batchA, batchB, m, n, k, transA, transB);
  return c.undefined();
}

// unary(op, x, out, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const dl::Unary op = c.named(0, kUnary);
  size_t n = 0;
  napi_get_typedarray_info(env, c.arg(1), nullptr, &n, nullptr, nullptr, nullptr);
  const float* x = c.array<float>(1, n);
  float* out = c.array<float>(2, n);
  const double alpha = c.number(3);
  if (c.ok()) dl::unary(op, x, out, n, alpha);
  return c.undefined();
}

// binary(op, a, aShape, b, bShape, out, outShape)
napi_value Binary(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const dl::Binary op = c.named(0, kBinary);
  const Dims aShape = c.dims(2), bShape = c.dims(4), outShape = c.dims(6);
  const float* a = c.array<float>(1, dl::sizeOf(aShape));
  const float* b = c.array<float>(3, dl::sizeOf(bShape));
  float* out = c.array<float>(5, dl::sizeOf(outShape));
  c.check(aShape.size() <= outShape.size() && bShape.size() <= outShape.size(), "inputs of higher rank than the output");
  for (const Dims* s : {&aShape, &bShape}) {
    for (size_t i = 1; i <= s->size() && i <= outShape.size(); ++i) {
      const int64_t d = (*s)[s->size() - i], o = outShape[outShape.size() - i];
      c.check(d == o || d == 1, "shapes do not broadcast to the output shape");
    }
  }
  if (c.ok()) dl::binary(op, a, aShape, b, bShape, out, outShape);
  return c.undefined();
}

// softmax(x, out, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(2), cols = c.integer(3);
  const float* x = c.array<float>(0, rows * cols);
  float* out = c.array<float>(1, rows * cols);
  if (c.ok()) dl::softmax(x, out, rows, cols);
  return c.undefined();
}

// reduce(op, x, out, outer, r, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const dl::Reduce op = c.named(0, kReduce);
  const int64_t outer = c.integer(3), r = c.integer(4), inner = c.integer(5);
  const float* x = c.array<float>(1, outer * r * inner);
  float* out = c.array<float>(2, outer * inner);
  if (c.ok()) dl::reduce(op, x, out, outer, r, inner);
  return c.undefined();
}

// transpose(x, shape, perm, out)
napi_value Transpose(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const Dims shape = c.dims(1), perm = c.dims(2);
  const float* x = c.array<float>(0, dl::sizeOf(shape));
  float* out = c.array<float>(3, dl::sizeOf(shape));
  std::vector<bool> seen(shape.size(), false);
  c.check(perm.size() == shape.size(), "perm must have the rank of x");
  for (int64_t p : perm) {
    c.check(p < static_cast<int64_t>(shape.size()) && !seen[p], "perm must be a permutation");
    if (p < static_cast<int64_t>(shape.size())) seen[p] = true;
  }
  if (c.ok()) dl::transpose(x, shape, perm, out);
  return c.undefined();
}

// slice(x, shape, begin, size, out)
napi_value Slice(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const Dims shape = c.dims(1), begin = c.dims(2), size = c.dims(3);
  const float* x = c.array<float>(0, dl::sizeOf(shape));
  float* out = c.array<float>(4, dl::sizeOf(size));
  c.check(begin.size() == shape.size() && size.size() == shape.size(), "begin and size must have the rank of x");
  for (size_t d = 0; d < shape.size() && d < begin.size() && d < size.size(); ++d) c.check(begin[d] + size[d] <= shape[d], "slice out of bounds");
  if (c.ok()) dl::slice(x, shape, begin, size, out);
  return c.undefined();
}

// gather(x, indices, out, outer, dim, slice)
napi_value Gather(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t outer = c.integer(3), dim = c.integer(4), slice = c.integer(5);
  size_t nIdx = 0;
  napi_get_typedarray_info(env, c.arg(1), nullptr, &nIdx, nullptr, nullptr, nullptr);
  const float* x = c.array<float>(0, outer * dim * slice);
  const int32_t* idx = c.array<int32_t>(1, nIdx);
  float* out = c.array<float>(2, outer * nIdx * slice);
  for (size_t i = 0; idx && i < nIdx; ++i) c.check(idx[i] >= 0 && idx[i] < dim, "index out of range");
  if (c.ok()) dl::gather(x, idx, nIdx, out, outer, dim, slice);
  return c.undefined();
}

// concat(parts, widths, out, rows)
napi_value Concat(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const Dims widths = c.dims(1);
  const int64_t rows = c.integer(3);
  uint32_t n = 0;
  napi_get_array_length(env, c.arg(0), &n);
  c.check(n == widths.size(), "one width per part");
  std::vector<const float*> parts;
  int64_t total = 0;
  for (uint32_t p = 0; p < n && p < widths.size(); ++p) {
    napi_value v;
    napi_get_element(env, c.arg(0), p, &v);
    size_t len = 0;
    napi_typedarray_type type;
    void* data = nullptr;
    const bool f32 = napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr) == napi_ok && type == napi_float32_array;
    c.check(f32 && static_cast<int64_t>(len) >= rows * widths[p], "parts must be Float32Arrays of rows x width elements");
    parts.push_back(static_cast<const float*>(data));
    total += widths[p];
  }
  float* out = c.array<float>(2, rows * total);
  if (c.ok()) dl::concat(parts, widths, out, rows);
  return c.undefined();
}

// attentionProbabilities(q, kT, mask, out, batch, m, n, k, maskRows, scale)
napi_value AttentionProbabilities(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t batch = c.integer(4), m = c.integer(5), n = c.integer(6), k = c.integer(7), maskRows = c.integer(8);
  const double scale = c.number(9);
  const float* q = c.array<float>(0, batch * m * k);
  const float* kT = c.array<float>(1, batch * k * n);
  const float* mask = c.array<float>(2, maskRows * n);
  float* out = c.array<float>(3, batch * m * n);
  c.check(batch * m == 0 || (maskRows > 0 && (batch * m) % maskRows == 0), "the mask's rows must divide batch * m");
  if (c.ok()) dl::attentionProbabilities(q, kT, mask, out, batch, m, n, k, maskRows, static_cast<float>(scale));
  return c.undefined();
}

// attentionProbabilitiesGrad(p, dy, out, rows, cols, scale)
napi_value AttentionProbabilitiesGrad(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(3), cols = c.integer(4);
  const double scale = c.number(5);
  const float* p = c.array<float>(0, rows * cols);
  const float* dy = c.array<float>(1, rows * cols);
  float* out = c.array<float>(2, rows * cols);
  if (c.ok()) dl::attentionProbabilitiesGrad(p, dy, out, rows, cols, static_cast<float>(scale));
  return c.undefined();
}

// rmsNorm(x, w, out, rows, cols, eps)
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(3), cols = c.integer(4);
  const double eps = c.number(5);
  const float* x = c.array<float>(0, rows * cols);
  const float* w = c.array<float>(1, cols);
  float* out = c.array<float>(2, rows * cols);
  if (c.ok()) dl::rmsNorm(x, w, out, rows, cols, static_cast<float>(eps));
  return c.undefined();
}

// rmsNormGradX(x, w, dy, dx, rows, cols, eps)
napi_value RmsNormGradX(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(4), cols = c.integer(5);
  const double eps = c.number(6);
  const float* x = c.array<float>(0, rows * cols);
  const float* w = c.array<float>(1, cols);
  const float* dy = c.array<float>(2, rows * cols);
  float* dx = c.array<float>(3, rows * cols);
  if (c.ok()) dl::rmsNormGradX(x, w, dy, dx, rows, cols, static_cast<float>(eps));
  return c.undefined();
}

// rmsNormGradW(x, dy, dw, rows, cols, eps)
napi_value RmsNormGradW(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(3), cols = c.integer(4);
  const double eps = c.number(5);
  const float* x = c.array<float>(0, rows * cols);
  const float* dy = c.array<float>(1, rows * cols);
  float* dw = c.array<float>(2, cols);
  if (c.ok()) dl::rmsNormGradW(x, dy, dw, rows, cols, static_cast<float>(eps));
  return c.undefined();
}

// addLowRank(base, xa, bT, out, n, r, cols, scale)
napi_value AddLowRank(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(4), r = c.integer(5), cols = c.integer(6);
  const double scale = c.number(7);
  const float* base = c.array<float>(0, n * cols);
  const float* xa = c.array<float>(1, n * r);
  const float* bT = c.array<float>(2, r * cols);
  float* out = c.array<float>(3, n * cols);
  if (c.ok()) dl::addLowRank(base, xa, bT, out, n, r, cols, static_cast<float>(scale));
  return c.undefined();
}

// differentialAttention(a1, a2, out, n, lambda, relu)
napi_value DifferentialAttention(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(3);
  const double lambda = c.number(4);
  const bool relu = c.flag(5);
  const float* a1 = c.array<float>(0, n);
  const float* a2 = c.array<float>(1, n);
  float* out = c.array<float>(2, n);
  if (c.ok()) dl::differentialAttention(a1, a2, static_cast<float>(lambda), out, n, relu);
  return c.undefined();
}

// differentialAttentionGrad(a2, y, dy, da1, da2, n, lambda, relu) -> d(lambda)
napi_value DifferentialAttentionGrad(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(5);
  const double lambda = c.number(6);
  const bool relu = c.flag(7);
  const float* a2 = c.array<float>(0, n);
  const float* y = c.array<float>(1, n);
  const float* dy = c.array<float>(2, n);
  float* da1 = c.array<float>(3, n);
  float* da2 = c.array<float>(4, n);
  if (!c.ok()) return c.undefined();
  napi_value v;
  napi_create_double(env, dl::differentialAttentionGrad(a2, y, dy, static_cast<float>(lambda), da1, da2, n, relu), &v);
  return v;
}

// swiglu(gate, up, out, n)
napi_value Swiglu(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(3);
  const float* gate = c.array<float>(0, n);
  const float* up = c.array<float>(1, n);
  float* out = c.array<float>(2, n);
  if (c.ok()) dl::swiglu(gate, up, out, n);
  return c.undefined();
}

// dropout(x, out, n, rate, seed): seed an integer below 2^53
napi_value Dropout(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(2);
  const double rate = c.number(3);
  const int64_t seed = c.integer(4);
  const float* x = c.array<float>(0, n);
  float* out = c.array<float>(1, n);
  c.check(rate >= 0 && rate < 1, "argument 3 must be a rate in [0, 1)");
  if (c.ok()) dl::dropout(x, out, n, rate, static_cast<uint64_t>(seed));
  return c.undefined();
}

// swigluGrad(gate, up, dy, dgate, dup, n)
napi_value SwigluGrad(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(5);
  const float* gate = c.array<float>(0, n);
  const float* up = c.array<float>(1, n);
  const float* dy = c.array<float>(2, n);
  float* dgate = c.array<float>(3, n);
  float* dup = c.array<float>(4, n);
  if (c.ok()) dl::swigluGrad(gate, up, dy, dgate, dup, n);
  return c.undefined();
}

// rope(x, cos, sin, out, outer, t, inner, d, transposed)
napi_value Rope(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t outer = c.integer(4), t = c.integer(5), inner = c.integer(6), d = c.integer(7);
  const bool transposed = c.flag(8);
  c.check(d % 2 == 0, "the rotated dimension must be even");
  const float* x = c.array<float>(0, outer * t * inner * d);
  const float* cos = c.array<float>(1, t * d);
  const float* sin = c.array<float>(2, t * d);
  float* out = c.array<float>(3, outer * t * inner * d);
  if (c.ok()) dl::rope(x, cos, sin, out, outer, t, inner, d, transposed);
  return c.undefined();
}

// crossEntropy(logits, labels, weights, rows, cols) -> loss
napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(3), cols = c.integer(4);
  const float* logits = c.array<float>(0, rows * cols);
  const int32_t* labels = c.array<int32_t>(1, rows);
  const float* w = c.array<float>(2, rows);
  if (!c.ok()) return c.undefined();
  napi_value v;
  napi_create_double(env, dl::crossEntropy(logits, labels, w, rows, cols), &v);
  return v;
}

// crossEntropyGrad(logits, labels, weights, dy, dx, rows, cols)
napi_value CrossEntropyGrad(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t rows = c.integer(5), cols = c.integer(6);
  const double dy = c.number(3);
  const float* logits = c.array<float>(0, rows * cols);
  const int32_t* labels = c.array<int32_t>(1, rows);
  const float* w = c.array<float>(2, rows);
  float* dx = c.array<float>(4, rows * cols);
  if (c.ok()) dl::crossEntropyGrad(logits, labels, w, static_cast<float>(dy), dx, rows, cols);
  return c.undefined();
}

// adamw(w, g, m, v, wOut, mOut, vOut, constants): constants = Float32Array [beta1, 1 - beta1, beta2,
// 1 - beta2, bc1, bc2, eps, lr, decay]; every array as long as w.
napi_value AdamW(napi_env env, napi_callback_info info) {
  Call c(env, info);
  size_t n = 0;
  napi_get_typedarray_info(env, c.arg(0), nullptr, &n, nullptr, nullptr, nullptr);
  const float* ptrs[4];
  for (size_t i = 0; i < 4; ++i) ptrs[i] = c.array<float>(i, n);
  float* outs[3];
  for (size_t i = 0; i < 3; ++i) outs[i] = c.array<float>(4 + i, n);
  const float* k = c.array<float>(7, 9);
  if (!c.ok()) return c.undefined();
  const dl::AdamWStep s{k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]};
  dl::adamw(ptrs[0], ptrs[1], ptrs[2], ptrs[3], outs[0], outs[1], outs[2], static_cast<int64_t>(n), s);
  return c.undefined();
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(0);
  c.check(n >= 1 && n <= 1024, "threads must be in [1, 1024]");
  if (c.ok()) dl::setThreads(static_cast<int>(n));
  return c.undefined();
}

// autoThreads(maxThreads, minWork)
napi_value AutoThreads(napi_env env, napi_callback_info info) {
  Call c(env, info);
  const int64_t n = c.integer(0);
  const double minWork = c.number(1);
  c.check(n >= 1 && n <= 1024, "threads must be in [1, 1024]");
  if (c.ok()) dl::autoThreads(static_cast<int>(n), minWork);
  return c.undefined();
}

// readTensor(fd, offset, dtype, out, rows, cols, transpose) -> bytes read (fewer: the file ended)
napi_value ReadTensor(napi_env env, napi_callback_info info) {
  static const Named<dl::StoredType> kTypes[] = {{"F32", dl::StoredType::F32}, {"F16", dl::StoredType::F16}, {"BF16", dl::StoredType::BF16}};
  Call c(env, info);
  const int64_t fd = c.integer(0), offset = c.integer(1);
  const dl::StoredType type = c.named(2, kTypes);
  const int64_t rows = c.integer(4), cols = c.integer(5);
  float* out = c.array<float>(3, rows * cols);
  const bool transpose = c.flag(6);
  c.check(fd <= INT32_MAX, "argument 0 must be a file descriptor");
  if (!c.ok()) return c.undefined();
  const int64_t got = dl::readTensor(static_cast<int>(fd), offset, type, out, rows, cols, transpose);
  if (got < 0) {
    napi_throw_error(env, nullptr, std::strerror(static_cast<int>(-got)));
    return c.undefined();
  }
  napi_value v;
  napi_create_int64(env, got, &v);
  return v;
}

napi_value KeepFreedMemory(napi_env env, napi_callback_info info) {
  dl::keepFreedMemory();
  return Call(env, info).undefined();
}

napi_value AdviseHugePages(napi_env env, napi_callback_info info) {
  Call c(env, info);
  float* data = c.array<float>(0, 0);
  size_t n = 0;
  if (c.ok()) napi_get_typedarray_info(env, c.arg(0), nullptr, &n, nullptr, nullptr, nullptr);
  if (c.ok()) dl::adviseHugePages(data, n * sizeof(float));
  return c.undefined();
}

napi_value Threads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, dl::threads(), &v);
  return v;
}

napi_value BlasInfo(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_string_utf8(env, dl::blasInfo(), NAPI_AUTO_LENGTH, &v);
  return v;
}

template <class E, size_t N>
napi_value names(napi_env env, const Named<E> (&table)[N]) {
  napi_value arr;
  napi_create_array_with_length(env, N, &arr);
  for (size_t i = 0; i < N; ++i) {
    napi_value s;
    napi_create_string_utf8(env, table[i].name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i, s);
  }
  return arr;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"matMul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"slice", nullptr, Slice, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"gather", nullptr, Gather, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"concat", nullptr, Concat, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionProbabilities", nullptr, AttentionProbabilities, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionProbabilitiesGrad", nullptr, AttentionProbabilitiesGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNormGradX", nullptr, RmsNormGradX, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNormGradW", nullptr, RmsNormGradW, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"addLowRank", nullptr, AddLowRank, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"differentialAttention", nullptr, DifferentialAttention, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"differentialAttentionGrad", nullptr, DifferentialAttentionGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"swiglu", nullptr, Swiglu, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"swigluGrad", nullptr, SwigluGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"dropout", nullptr, Dropout, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rope", nullptr, Rope, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"crossEntropy", nullptr, CrossEntropy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"crossEntropyGrad", nullptr, CrossEntropyGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"autoThreads", nullptr, AutoThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"readTensor", nullptr, ReadTensor, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"keepFreedMemory", nullptr, KeepFreedMemory, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adviseHugePages", nullptr, AdviseHugePages, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"blasInfo", nullptr, BlasInfo, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unaryOps", nullptr, nullptr, nullptr, nullptr, names(env, kUnary), napi_enumerable, nullptr},
      {"binaryOps", nullptr, nullptr, nullptr, nullptr, names(env, kBinary), napi_enumerable, nullptr},
      {"reduceOps", nullptr, nullptr, nullptr, nullptr, names(env, kReduce), napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
