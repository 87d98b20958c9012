// What every ISA's kernels share: the feature mask their flags require, destination-line
// arithmetic, `rep movsb`, the regular copy's shape and the non-temporal head/body/tail
// skeleton. An ISA file supplies only its vectors and conversions.
//
// Included INSIDE each ISA file's anonymous namespace, after <immintrin.h>, <cstddef>,
// <cstdint> and kernels.hpp:
//
//     #define TILECOPY_KERNEL_FILE
//     namespace tilecopy::kernels::avx2 {
//     namespace {
//     #include "kernel_common.hpp"
//
// so that each ISA compiles a private copy with its own flags. Were these inline functions
// and templates shared at namespace scope, the linker would keep one instance of each for
// all ISAs (one definition rule): the scalar kernels could end up calling the AVX-512 file's
// copy of a helper on a CPU without AVX-512. Hence no include guard and no includes here.

#if !defined(TILECOPY_KERNEL_FILE)
#error "kernel_common.hpp belongs inside an ISA file's anonymous namespace (see its first lines)"
#endif

using Byte = unsigned char;

// What this file's flags let the compiler emit, and so what a CPU must have to run it.
constexpr std::uint32_t kRequiredFeatures = 0u
#if defined(__SSE2__)
    | kSse2
#endif
#if defined(__SSE3__)
    | kSse3
#endif
#if defined(__SSSE3__)
    | kSsse3
#endif
#if defined(__SSE4_1__)
    | kSse41
#endif
#if defined(__SSE4_2__)
    | kSse42
#endif
#if defined(__POPCNT__)
    | kPopcnt
#endif
#if defined(__XSAVE__)
    | kXsave
#endif
#if defined(__AVX__)
    | kAvx | kOsYmm
#endif
#if defined(__AVX2__)
    | kAvx2
#endif
// GCC's -mavx512f allows FMA instructions (__FP_FAST_FMA) without defining __FMA__.
#if defined(__FMA__) || (defined(__AVX__) && defined(__FP_FAST_FMA))
    | kFma
#endif
#if defined(__F16C__)
    | kF16c
#endif
#if defined(__AVX512F__)
    | kAvx512f | kOsZmm
#endif
#if defined(__AVX512BW__)
    | kAvx512bw
#endif
#if defined(__AVX512VL__)
    | kAvx512vl
#endif
#if defined(__AVX512DQ__)
    | kAvx512dq
#endif
    ;

// memcpy without <cstring> (kernel files include no library headers beyond the three).
inline void copy_bytes(void* d, const void* s, std::size_t n) noexcept { __builtin_memcpy(d, s, n); }

// Bytes from p up to the next 64-byte line; 0 when p starts one.
inline std::size_t bytes_to_line(const void* p) noexcept {
    return (64 - (reinterpret_cast<std::uintptr_t>(p) & 63)) & 63;
}

#if defined(__x86_64__)

// From here on source and destination no longer fit L1 together and `rep movsb` (ERMS/FSRM)
// wins: it writes whole lines without reading them first, where vector stores must fetch
// each destination line (measured on Zen 5: 1.6x faster than rep movsb at 4-24 KiB, 0.73x
// at 64 KiB).
constexpr std::size_t kRepMovsbBytes = 32 * 1024;

// A regular (cached) copy with an ISA's vectors. V provides: Vec, kWidth (bytes, 32 or 64),
// load(p), store(p, v) (unaligned), store_aligned(p, v), and small(d, s, n) for n <= 256
// (the inline path of small copies: no loop, no alignment work).
template <typename V>
void copy_regular(void* dst, const void* src, std::size_t n) noexcept {
    constexpr std::size_t W = V::kWidth, kStep = 4 * W;
    static_assert(64 % W == 0 && kStep <= 256, "the first line and the last step must fit the small path");
    auto* d = static_cast<Byte*>(dst);
    const auto* s = static_cast<const Byte*>(src);
    if (n <= 256) {
        V::small(d, s, n);
        return;
    }
    // (Not for a destination 1-63 bytes past the source modulo 4 KiB, where rep movsb runs
    // ~20x slower: string_copy_slow; the vector loop below then.)
    if (n >= kRepMovsbBytes && !::tilecopy::detail::string_copy_slow(d, s)) {
        // rep movsb streams whole lines only from an aligned destination (256 KiB copies to
        // dst+3 ran at 0.85x the aligned speed): the first line by vectors, then the rest
        // from the next line.
        for (std::size_t i = 0; i < 64; i += W) V::store(d + i, V::load(s + i));
        const std::size_t head = 64 - (reinterpret_cast<std::uintptr_t>(d) & 63);
        ::tilecopy::detail::string_copy(d + head, s + head, n - head); // rep movsb
        return;
    }
    Byte* const d_end = d + n;
    const Byte* const s_end = s + n;
    // One unaligned vector, then aligned stores; the last step overlaps what came before.
    V::store(d, V::load(s));
    const std::size_t head = W - (reinterpret_cast<std::uintptr_t>(d) & (W - 1));
    d += head;
    s += head;
    n -= head;
    for (; n > kStep; n -= kStep, d += kStep, s += kStep) {
        const typename V::Vec a = V::load(s), b = V::load(s + W), c = V::load(s + 2 * W), e = V::load(s + 3 * W);
        V::store_aligned(d, a);
        V::store_aligned(d + W, b);
        V::store_aligned(d + 2 * W, c);
        V::store_aligned(d + 3 * W, e);
    }
    const typename V::Vec a = V::load(s_end - kStep), b = V::load(s_end - 3 * W), c = V::load(s_end - 2 * W),
                          e = V::load(s_end - W);
    V::store(d_end - kStep, a);
    V::store(d_end - 3 * W, b);
    V::store(d_end - 2 * W, c);
    V::store(d_end - W, e);
}

// The non-temporal skeleton, in elements of Op::src_size source and Op::dst_size destination
// bytes (1 and 1 for copies): a head of regular stores up to the destination's next 64-byte
// line, a body of Op::step elements at a time (a whole number of aligned lines or vectors)
// with streaming stores, a regular tail, then the fence (unless Fence is false: the caller
// fences once after a run of calls, kernels.hpp). Op provides:
//   src_size, dst_size, step, min_bytes: below head + min_bytes destination bytes the
//     whole range takes regular(d, s, count), as the body would be too short to pay;
//   regular(d, s, count), edge(d, s, count) (head and tail, count < step), stream_step(d, s).
template <typename Op, bool Fence = true>
void copy_nt_skeleton(void* dst, const void* src, std::size_t count) noexcept {
    auto* d = static_cast<Byte*>(dst);
    const auto* s = static_cast<const Byte*>(src);
    const std::size_t head_bytes = bytes_to_line(d);
    // A destination that is not element-aligned never reaches a line boundary.
    if (head_bytes % Op::dst_size != 0 || count * Op::dst_size < head_bytes + Op::min_bytes) {
        Op::regular(d, s, count);
        return;
    }
    const std::size_t head = head_bytes / Op::dst_size;
    Op::edge(d, s, head);
    d += head_bytes;
    s += head * Op::src_size;
    count -= head;
    // No software prefetch: on Zen 5 it cost 5-10% against the hardware prefetchers (256 MiB).
    for (; count >= Op::step; count -= Op::step, d += Op::step * Op::dst_size, s += Op::step * Op::src_size)
        Op::stream_step(d, s);
    Op::edge(d, s, count);
    // Streaming stores are weakly ordered: fence so the data is visible to whoever we signal
    // (docs/design.md, "The fence").
    if (Fence) _mm_sfence();
}

// The skeleton's Op for byte copies with V's vectors (as copy_regular, plus stream(p, v)):
// four vectors per body step, as the regular loop.
template <typename V>
struct CopyLines {
    static constexpr std::size_t src_size = 1, dst_size = 1, step = 4 * V::kWidth, min_bytes = V::kNtMinBytes;
    static void regular(Byte* d, const Byte* s, std::size_t n) noexcept { V::copy(d, s, n); }
    static void edge(Byte* d, const Byte* s, std::size_t n) noexcept { V::small(d, s, n); }
    static void stream_step(Byte* d, const Byte* s) noexcept {
        constexpr std::size_t W = V::kWidth;
        const typename V::Vec a = V::load(s), b = V::load(s + W), c = V::load(s + 2 * W), e = V::load(s + 3 * W);
        V::stream(d, a);
        V::stream(d + W, b);
        V::stream(d + 2 * W, c);
        V::stream(d + 3 * W, e);
    }
};

#endif // __x86_64__

// Conversions in vectors of Op::lanes elements: Op::full(d, s) converts one vector's worth,
// Op::partial(d, s, count) the last count < lanes elements.
template <typename Op>
void convert_vectors(Byte* d, const Byte* s, std::size_t count) noexcept {
    for (; count >= Op::lanes; count -= Op::lanes, d += Op::lanes * Op::dst_size, s += Op::lanes * Op::src_size)
        Op::full(d, s);
    if (count != 0) Op::partial(d, s, count);
}
