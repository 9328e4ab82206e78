// Reading checkpoint tensors: bytes by offset straight from the file, widened to float32 in the
// destination buffer (and transposed there for [out, in] linear weights), so a 1B model's load makes
// no intermediate copy of any tensor.
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>
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

}  // namespace

int64_t readTensor(int fd, int64_t offset, StoredType type, float* out, int64_t rows, int64_t cols, bool transpose) {
  const int64_t elt = type == StoredType::F32 ? 4 : 2;
  const int64_t n = rows * cols;
  if (n == 0) return 0;
  // Chunks of whole rows, ~8 MiB of file at a time; 64-row blocks keep the transposed writes in cache.
  constexpr int64_t kBlock = 64;
  const int64_t rowBytes = cols * elt;
  const int64_t chunkRows = std::max<int64_t>(kBlock, (int64_t{8} << 20) / std::max<int64_t>(rowBytes, 1) / kBlock * kBlock);
  std::vector<unsigned char> raw(std::min(rows, chunkRows) * rowBytes);
  std::vector<float> wide(transpose ? std::min(rows, chunkRows) * cols : 0);
  for (int64_t r0 = 0; r0 < rows; r0 += chunkRows) {
    const int64_t nr = std::min(chunkRows, rows - r0);
    const int64_t got = readFully(fd, raw.data(), nr * rowBytes, offset + r0 * rowBytes);
    if (got < 0) return got;
    if (got < nr * rowBytes) return r0 * rowBytes + got;
    if (!transpose) {
      widen(raw.data(), out + r0 * cols, nr * cols, type);
      continue;
    }
    widen(raw.data(), wide.data(), nr * cols, type);
    // out is [cols, rows]: the chunk's rows r0.. become columns r0.. of out.
    for (int64_t a0 = 0; a0 < nr; a0 += kBlock) {
      const int64_t a1 = std::min(nr, a0 + kBlock);
      for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
        const int64_t c1 = std::min(cols, c0 + kBlock);
        for (int64_t c = c0; c < c1; ++c) {
          float* dst = out + c * rows + r0;
          for (int64_t a = a0; a < a1; ++a) dst[a] = wide[a * cols + c];
        }
      }
    }
  }
  return n * elt;
}

}  // namespace dl
