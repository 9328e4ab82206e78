// Reading checkpoint tensors: bytes by offset straight from the file, widened to float32 in the
// destination buffer (and transposed there for [out, in] linear weights), so a 1B model's load makes
// no intermediate copy of any tensor.
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>
#include "fastmath.h"
#include "kernels.h"

namespace dl {

namespace {

// The 65536 IEEE half values, as engine/formats/dtype.ts builds them (exact: every half is a float).
const float* halfTable() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (int h = 0; h < 65536; ++h) {
      const int exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
      float v;
      if (exp == 0) v = std::ldexp(static_cast<float>(frac), -24);
      else if (exp == 31) v = frac ? NAN : INFINITY;
      else v = std::ldexp(static_cast<float>(1024 + frac), exp - 25);
      // A NaN keeps no sign: JS writes every NaN into a Float32Array as 0x7fc00000.
      t[h] = (h & 0x8000) && !std::isnan(v) ? -v : v;
    }
    return t;
  }();
  return table.data();
}

void widen(const unsigned char* raw, float* out, int64_t n, StoredType type) {
  switch (type) {
    case StoredType::F32:
      std::memcpy(out, raw, n * 4);
      return;
    case StoredType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, raw + 2 * i, 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(out + i, &bits, 4);
      }
      return;
    case StoredType::F16: {
      const float* table = halfTable();
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, raw + 2 * i, 2);
        out[i] = table[h];
      }
      return;
    }
  }
}

// pread until `len` bytes or the end of the file; returns the bytes read, or -errno.
int64_t readFully(int fd, unsigned char* buf, int64_t len, int64_t offset) {
  int64_t done = 0;
  while (done < len) {
    const ssize_t r = pread(fd, buf + done, static_cast<size_t>(std::min<int64_t>(len - done, 1 << 30)), offset + done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    done += r;
  }
  return done;
}

// Eight consecutive stored values as float32 bit patterns.
typedef uint32_t Bits8 __attribute__((vector_size(32)));

template <StoredType T>
inline Bits8 load8Bits(const unsigned char* p) {
  Bits8 v;
  if constexpr (T == StoredType::F32) {
    std::memcpy(&v, p, sizeof v);
  } else if constexpr (T == StoredType::BF16) {
    typedef uint16_t Half8 __attribute__((vector_size(16)));
    Half8 h;
    std::memcpy(&h, p, sizeof h);
    v = __builtin_convertvector(h, Bits8) << 16;
  } else {
    float f[8];
    widen(p, f, 8, T);
    std::memcpy(&v, f, sizeof v);
  }
  return v;
}

// The two-vector shuffles of an 8x8 transpose (the indices pick from a's 0-7 and b's 8-15);
// __builtin_shufflevector takes constant indices and builds with GCC 12+ and clang alike.
inline Bits8 interleave32Lo(Bits8 a, Bits8 b) { return __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13); }
inline Bits8 interleave32Hi(Bits8 a, Bits8 b) { return __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15); }
inline Bits8 interleave64Lo(Bits8 a, Bits8 b) { return __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13); }
inline Bits8 interleave64Hi(Bits8 a, Bits8 b) { return __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15); }
inline Bits8 halvesLo(Bits8 a, Bits8 b) { return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11); }
inline Bits8 halvesHi(Bits8 a, Bits8 b) { return __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15); }

// r[i] = row i of an 8x8 block -> r[i] = column i: three rounds of two-vector shuffles.
inline void transpose8x8(Bits8 (&r)[8]) {
  Bits8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = interleave32Lo(r[i], r[i + 1]);
    t[i + 1] = interleave32Hi(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = interleave64Lo(t[i], t[i + 2]);
    u[i + 1] = interleave64Hi(t[i], t[i + 2]);
    u[i + 2] = interleave64Lo(t[i + 1], t[i + 3]);
    u[i + 3] = interleave64Hi(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = halvesLo(u[i], u[i + 4]);
    r[i + 4] = halvesHi(u[i], u[i + 4]);
  }
}

// The nr stored rows at raw ([nr, cols]) widened into columns r0.. of out ([cols, rows]), in 8x8
// blocks straight from the file's bytes. Strips of 16 rows write whole 64-byte lines of out.
template <StoredType T>
inline void transposeInto(const unsigned char* raw, int64_t nr, int64_t cols, float* out, int64_t rows, int64_t r0) {
  constexpr int64_t elt = T == StoredType::F32 ? 4 : 2;
  const int64_t rowBytes = cols * elt, nr8 = nr - nr % 8, cols8 = cols - cols % 8;
  for (int64_t a0 = 0; a0 < nr8; a0 += 16) {
    const int64_t a1 = std::min(nr8, a0 + 16);
    for (int64_t c = 0; c < cols8; c += 8) {
      for (int64_t a = a0; a < a1; a += 8) {
        Bits8 r[8];
        for (int i = 0; i < 8; ++i) r[i] = load8Bits<T>(raw + (a + i) * rowBytes + c * elt);
        transpose8x8(r);
        for (int i = 0; i < 8; ++i) std::memcpy(out + (c + i) * rows + r0 + a, &r[i], sizeof r[i]);
      }
    }
  }
  for (int64_t a = 0; a < nr; ++a) {  // the edges: columns past cols8, rows past nr8
    for (int64_t c = a < nr8 ? cols8 : 0; c < cols; ++c) widen(raw + a * rowBytes + c * elt, out + c * rows + r0 + a, 1, T);
  }
}

DL_VECTORIZED void transposeBF16(const unsigned char* raw, int64_t nr, int64_t cols, float* out, int64_t rows, int64_t r0) {
  transposeInto<StoredType::BF16>(raw, nr, cols, out, rows, r0);
}
DL_VECTORIZED void transposeF32(const unsigned char* raw, int64_t nr, int64_t cols, float* out, int64_t rows, int64_t r0) {
  transposeInto<StoredType::F32>(raw, nr, cols, out, rows, r0);
}

}  // namespace

int64_t readTensor(int fd, int64_t offset, StoredType type, float* out, int64_t rows, int64_t cols, bool transpose) {
  const int64_t elt = type == StoredType::F32 ? 4 : 2;
  const int64_t n = rows * cols;
  if (n == 0) return 0;
  adviseHugePages(out, n * sizeof(float));
  // Chunks of whole rows, ~8 MiB of file at a time.
  const int64_t rowBytes = cols * elt;
  const int64_t chunkRows = std::max<int64_t>(16, (int64_t{8} << 20) / std::max<int64_t>(rowBytes, 1) / 16 * 16);
  std::vector<unsigned char> raw(std::min(rows, chunkRows) * rowBytes);
  for (int64_t r0 = 0; r0 < rows; r0 += chunkRows) {
    const int64_t nr = std::min(chunkRows, rows - r0);
    const int64_t got = readFully(fd, raw.data(), nr * rowBytes, offset + r0 * rowBytes);
    if (got < 0) return got;
    if (got < nr * rowBytes) return r0 * rowBytes + got;
    if (!transpose) widen(raw.data(), out + r0 * cols, nr * cols, type);
    else if (type == StoredType::BF16) transposeBF16(raw.data(), nr, cols, out, rows, r0);
    else if (type == StoredType::F32) transposeF32(raw.data(), nr, cols, out, rows, r0);
    else transposeInto<StoredType::F16>(raw.data(), nr, cols, out, rows, r0);
  }
  return n * elt;
}

}  // namespace dl
