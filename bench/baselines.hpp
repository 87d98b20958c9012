// The copies tilecopy is measured against, other than torch's copy_ (see torch_methods.hpp).
#pragma once

#include <cstddef>

namespace bench {

// An OpenMP copy following DeepSpeed's deepspeed_py_memcpy algorithm (our own code, written
// from its description): 1 GiB tiles, one `omp parallel for` per tile over unaligned vector
// load/store pairs unrolled by 8, a scalar tail. Uses AVX-512 when the CPU and OS allow it,
// else AVX2, else plain 64-byte moves. `threads` OpenMP threads per region.
void omp_tiled_copy(void* dst, const void* src, std::size_t bytes, int threads) noexcept;

// Which variant omp_tiled_copy runs on this CPU: "avx512", "avx2" or "scalar".
const char* omp_tiled_copy_isa() noexcept;

} // namespace bench
