// Float32 kernels of the native backend over raw row-major buffers. Each reproduces the semantics of
// the tfjs cpu kernel of the same name (NaN/Inf propagation, size-0 and size-1 dimensions); the
// N-API layer (addon.cc) checks buffer sizes before calling in.
#pragma once
#include <cstdint>
#include <vector>

namespace dl {

using Dims = std::vector<int64_t>;

enum class Unary { Exp, Neg, Rsqrt, Sqrt, Square, Sigmoid, Relu, Relu6, Elu, LeakyRelu, Log, Tanh, Abs, Floor, Reciprocal };
enum class Binary { Add, Sub, Multiply, RealDiv, Maximum, Minimum, SquaredDifference, Prelu };
enum class Reduce { Sum, Max, Min, Mean };

int64_t sizeOf(const Dims& shape);

// out[b] = op(a[b % batchA]) x op(b[b % batchB]) for b < max(batchA, batchB); a is [m, k] (or [k, m] when
// transA), b is [k, n] (or [n, k] when transB).
void matMul(const float* a, const float* b, float* out, int64_t batchA, int64_t batchB, int64_t m, int64_t n, int64_t k,
            bool transA, bool transB);
// alpha: LeakyRelu's slope (unused by the other ops).
void unary(Unary op, const float* x, float* out, int64_t n, double alpha);
// Numpy broadcasting of aShape and bShape to outShape.
void binary(Binary op, const float* a, const Dims& aShape, const float* b, const Dims& bShape, float* out, const Dims& outShape);
// Softmax over the last axis of [rows, cols].
void softmax(const float* x, float* out, int64_t rows, int64_t cols);
// x viewed as [outer, r, inner], reduced over r into out [outer, inner].
void reduce(Reduce op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner);
void transpose(const float* x, const Dims& shape, const Dims& perm, float* out);
void slice(const float* x, const Dims& shape, const Dims& begin, const Dims& size, float* out);
// x viewed as [outer, dim, slice]; out [outer, nIdx, slice]. Indices are in [0, dim) (checked by the caller).
void gather(const float* x, const int32_t* idx, int64_t nIdx, float* out, int64_t outer, int64_t dim, int64_t slice);
// Each part viewed as [rows, widths[p]]; out [rows, sum(widths)].
void concat(const std::vector<const float*>& parts, const Dims& widths, float* out, int64_t rows);

// Fused operations (engine/model/fused.ts).
// softmax(scale * q kT + mask) over the last axis, per batch b: q [m, k], kT [k, n]; mask [m, n], the
// same for every b unless maskPerBatch ([batch, m, n]).
void attentionProbabilities(const float* q, const float* kT, const float* mask, float* out, int64_t batch, int64_t m, int64_t n,
                            int64_t k, bool maskPerBatch, float scale);
// d(scores) of the above for d(probabilities) dy: scale * p (dy - rowsum(dy p)), rows of [rows, cols].
void attentionProbabilitiesGrad(const float* p, const float* dy, float* out, int64_t rows, int64_t cols, float scale);
// x / sqrt(mean(x^2) + eps) * w over rows of [rows, cols], w [cols]; and its gradients for dy.
void rmsNorm(const float* x, const float* w, float* out, int64_t rows, int64_t cols, float eps);
void rmsNormGradX(const float* x, const float* w, const float* dy, float* dx, int64_t rows, int64_t cols, float eps);
// dw [cols] = sum over rows of dy x / sqrt(mean(x^2) + eps).
void rmsNormGradW(const float* x, const float* dy, float* dw, int64_t rows, int64_t cols, float eps);

// Checkpoint loading (load.cc). A tensor's file bytes at `offset` (little-endian `type`, [rows, cols])
// widened into out, [rows, cols] or, when transpose, [cols, rows]. Returns the bytes read: fewer than
// rows * cols * size when the file ends early, -errno when a read fails.
enum class StoredType { F32, F16, BF16 };
int64_t readTensor(int fd, int64_t offset, StoredType type, float* out, int64_t rows, int64_t cols, bool transpose);

// Process settings.
void keepFreedMemory();
// A fixed BLAS thread count, or one chosen per GEMM: maxThreads when its m*n*k >= minWork, else 1.
void setThreads(int n);
void autoThreads(int maxThreads, double minWork);
// Sets the BLAS threads for an m x n x k product: every direct cblas caller calls it first.
void threadsFor(int64_t m, int64_t n, int64_t k);
int threads();
const char* blasInfo();

}  // namespace dl
