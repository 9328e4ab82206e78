// Float32 kernels of the native backend over raw row-major buffers. Each reproduces the semantics of
// the tfjs cpu kernel of the same name (NaN/Inf propagation, size-0 and size-1 dimensions); the
// N-API layer (addon.cc) checks buffer sizes before calling in.
#pragma once
#include <cstddef>
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
// softmax(scale * q kT + mask) over the last axis, per batch b: q [m, k], kT [k, n]; mask [maskRows, n],
// its rows repeating down the batch * m output rows (row t takes mask row t % maskRows): [m, n] for one
// mask per batch, [batch * m, n] for a mask each, [T, n] for rep = m / T query heads stacked per GQA group.
void attentionProbabilities(const float* q, const float* kT, const float* mask, float* out, int64_t batch, int64_t m, int64_t n,
                            int64_t k, int64_t maskRows, float scale);
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
// base + scale * xa bT for base [n, cols], xa [n, r], bT [r, cols]: a LoRA delta added to its base.
void addLowRank(const float* base, const float* xa, const float* bT, float* out, int64_t n, int64_t r, int64_t cols, float scale);
// relu?(a1 - a2 * lambda) over n elements; its gradients for dy given the output y: dA1 and dA2 into
// da1, da2, and d(lambda) returned (summed in double).
void differentialAttention(const float* a1, const float* a2, float lambda, float* out, int64_t n, bool relu);
double differentialAttentionGrad(const float* a2, const float* y, const float* dy, float lambda, float* da1, float* da2, int64_t n,
                                 bool relu);
// silu(gate) * up = gate * sigmoid(gate) * up over n elements, and its gradients for dy.
void swiglu(const float* gate, const float* up, float* out, int64_t n);
// out = x * (u >= rate ? 1 / (1 - rate) : 0), u uniform in [0, 1) from (seed, element index) alone.
void dropout(const float* x, float* out, int64_t n, double rate, uint64_t seed);
void swigluGrad(const float* gate, const float* up, const float* dy, float* dgate, float* dup, int64_t n);
// x cos + rotate_half(x) sin for x [outer, t, inner, d] and tables [t, d] (rotate_half(x) = [-x2, x1]);
// transposed: x cos + rotate_half^T(x sin), the gradient w.r.t. x for dy = x.
void rope(const float* x, const float* cos, const float* sin, float* out, int64_t outer, int64_t t, int64_t inner, int64_t d,
          bool transposed);
// -sum over rows r of w[r] log softmax(logits[r])[labels[r]], logits [rows, cols] (a label outside
// [0, cols) selects nothing); and its gradient (softmax - onehot) * w * dy.
double crossEntropy(const float* logits, const int32_t* labels, const float* w, int64_t rows, int64_t cols);
void crossEntropyGrad(const float* logits, const int32_t* labels, const float* w, float dy, float* dx, int64_t rows, int64_t cols);
// AdamW's constants for one step, as float32 (the composite's scalar tensors).
struct AdamWStep {
  float beta1, oneMinusBeta1, beta2, oneMinusBeta2, bc1, bc2, eps, lr, decay;
};
// m' = m b1 + g (1 - b1); v' = v b2 + g^2 (1 - b2); w' = w decay - lr (m' / bc1) / (sqrt(v' / bc2) + eps).
void adamw(const float* w, const float* g, const float* m, const float* v, float* wOut, float* mOut, float* vOut, int64_t n,
           const AdamWStep& s);

// Process settings.
void keepFreedMemory();
// Asks for transparent huge pages over the block's whole 2 MB pages (Linux; before its first write).
void adviseHugePages(void* data, std::size_t bytes);
// A fixed BLAS thread count, or one chosen per GEMM: maxThreads when its m*n*k >= minWork, else 1.
void setThreads(int n);
void autoThreads(int maxThreads, double minWork);
// Sets the BLAS threads for an m x n x k product: every direct cblas caller calls it first.
void threadsFor(int64_t m, int64_t n, int64_t k);
int threads();
const char* blasInfo();

}  // namespace dl
