// Allocator settings for a process that allocates a fresh output buffer per kernel.
#include "kernels.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <cstdint>

namespace dl {

// By default glibc maps each large block (a kernel's output) fresh from the kernel and unmaps it on
// free, so every page of every output faults on first write: 67k page faults and a third of the CPU
// time of a small model's forward at T=512. Serving blocks up to 32 MiB (glibc's maximum) from the
// heap, and keeping up to 256 MiB of freed heap, removes almost all of them (measured: 67k -> 1.4k
// faults, 480 -> 320 ms of CPU).
void keepFreedMemory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

// Fresh anonymous memory faults page by page, and the kernel zeroes each page first: a 1B model's
// 4.9 GB of weights took 1.35M faults and most of the load's time (sys 7-13 s on this VM). Where
// transparent huge pages are "madvise" (Debian's and Ubuntu's default), asking for them before the
// first write makes that 2 MB per fault (330k faults in all, load 11-17 s -> 8 s). Only the block's
// whole 2 MB pages are advised, so no neighbouring allocation is touched; errors (no THP) are ignored.
void adviseHugePages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace dl
