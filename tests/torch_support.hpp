// Tensor test helpers shared by test_torch.cpp and test_torch_batch.cpp: source values with
// torch's special cases in them, noisy destinations, views of padded storages, whole-storage
// comparisons. Include before doctest: libtorch's headers bring glog's CHECK macros, which
// the including file #undefs before <doctest/doctest.h>.
#pragma once

#include <array>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>

#include "support.hpp"

namespace tilecopy::test {

using Shape = std::vector<std::int64_t>;

inline std::int64_t numel_of(const Shape& s) {
    std::int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

inline std::string text(const Shape& s) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < s.size(); ++i) out << (i ? "," : "") << s[i];
    return out.str() + "]";
}

// --- Data: source values with the special cases in them, destinations full of noise -------

inline std::uint32_t next(std::uint32_t& x) { return x = x * 1664525u + 1013904223u; }

inline const std::vector<std::uint32_t> kFloatSpecials = {
    0x7FC00000, 0x7F812345, 0x7F800001, 0xFFC00001, 0x7FFFFFFF, // NaNs: quiet, payloads, signalling
    0x7F800000, 0xFF800000, 0x00000000, 0x80000000,             // +-inf, +-0
    0x00000001, 0x807FFFFF, 0x00400000,                         // denormals
    0x3F808000, 0x3F818000, 0xBF808000, 0x7F7F8000,             // bfloat16 ties (down, up, -, to inf)
    0x3F801000, 0x3F803000, 0x477FF000, 0x477FE000,             // float16 ties, overflow to inf, max
    0x33800000, 0x33000000, 0x33000001, 0x38800000, 0x387FE000, // float16 denormal results
    0x7F7FFFFF, 0x3F800000, 0xC2F70000};
inline const std::vector<std::uint16_t> kHalfSpecials = {0x7E00, 0x7C01, 0xFE01, 0x7FFF, 0x7C00, 0xFC00, 0x0000,
                                                  0x8000, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0x3C00};
inline const std::vector<std::uint16_t> kBFloat16Specials = {0x7FC0, 0x7F81, 0xFFC1, 0x7FFF, 0x7F80, 0xFF80, 0x0000,
                                                      0x8000, 0x0001, 0x8001, 0x007F, 0x7F7F, 0x3F80};
inline const std::vector<std::uint64_t> kDoubleSpecials = {
    0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000123, 0x7FF0000000000000, 0xFFF0000000000000,
    0x0000000000000001, 0x8000000000000000, 0x3FF0000010000000, 0x47EFFFFFF0000000, 0x36A0000000000000};

// Every element of a contiguous tensor: specials at every third position, random bits
// elsewhere (NaN exponents removed when `nan` is false).
inline void fill_values(const at::Tensor& t, std::uint32_t seed, bool nan) {
    const std::int64_t n = t.numel();
    auto* bytes = static_cast<unsigned char*>(t.data_ptr());
    std::uint32_t x = seed * 2654435761u + 7u;
    const auto special = [&](std::int64_t i) { return i % 3 == 0; };
    switch (t.scalar_type()) {
    case at::kFloat:
    case at::kComplexFloat: {
        auto* p = reinterpret_cast<std::uint32_t*>(bytes);
        const std::int64_t count = n * (t.scalar_type() == at::kFloat ? 1 : 2);
        const std::uint32_t* specials = kFloatSpecials.data(); // read once, not per element
        const std::size_t kinds = kFloatSpecials.size();
        for (std::int64_t i = 0; i < count; ++i) {
            std::uint32_t v = special(i) ? specials[(i / 3) % kinds] : next(x);
            if (!nan && (v & 0x7F800000u) == 0x7F800000u && (v & 0x7FFFFFu)) v &= ~0x40000000u;
            p[i] = v;
        }
        break;
    }
    case at::kHalf:
    case at::kBFloat16: {
        const auto& list = t.scalar_type() == at::kHalf ? kHalfSpecials : kBFloat16Specials;
        const std::uint16_t* specials = list.data();
        const std::size_t kinds = list.size();
        auto* p = reinterpret_cast<std::uint16_t*>(bytes);
        for (std::int64_t i = 0; i < n; ++i)
            p[i] = special(i) ? specials[(i / 3) % kinds] : static_cast<std::uint16_t>(next(x) >> 16);
        break;
    }
    case at::kDouble: {
        auto* p = reinterpret_cast<std::uint64_t*>(bytes);
        const std::uint64_t* specials = kDoubleSpecials.data();
        const std::size_t kinds = kDoubleSpecials.size();
        for (std::int64_t i = 0; i < n; ++i)
            p[i] = special(i) ? specials[(i / 3) % kinds] : (std::uint64_t(next(x)) << 32 | next(x));
        break;
    }
    case at::kBool:
        for (std::int64_t i = 0; i < n; ++i) bytes[i] = (next(x) >> 20) & 1;
        break;
    default: {
        const std::int64_t size = n * static_cast<std::int64_t>(t.element_size());
        for (std::int64_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(next(x) >> 24);
    }
    }
}

// Eight bytes to a store: under a sanitizer each store is checked, and the tests fill hundreds
// of MiB.
inline void fill_noise(const at::Tensor& t, std::uint32_t seed) {
    auto* bytes = static_cast<unsigned char*>(t.data_ptr());
    const std::size_t n = static_cast<std::size_t>(t.numel()) * t.element_size();
    std::uint32_t x = seed * 40503u + 11u;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word = 0; // byte k at the k-th address on a little-endian machine
        for (int k = 0; k < 8; ++k) word |= std::uint64_t(next(x) >> 24) << (8 * k);
        std::memcpy(bytes + i, &word, 8);
    }
    for (; i < n; ++i) bytes[i] = static_cast<unsigned char>(next(x) >> 24);
}

// --- Layouts: a view of a padded storage -------------------------------------------------

enum class Layout { Contiguous, Transposed, EveryOther, Narrowed, ChannelsLast, OuterPermuted, BroadcastOuter, BroadcastInner, Scalar };

enum class Fill { Noise, Values, ValuesNoNaN };

// A view with the given logical shape (or, for the broadcast layouts, a source that broadcasts
// to it), 16 elements of padding on both sides of what it spans. Same arguments, same bytes.
inline at::Tensor make_tensor(Layout layout, at::ScalarType dtype, const Shape& shape, Fill fill, std::uint32_t seed) {
    Shape alloc = shape;
    const std::size_t dims = shape.size();
    switch (layout) {
    case Layout::Transposed: std::swap(alloc[dims - 1], alloc[dims - 2]); break;
    case Layout::EveryOther: alloc[dims - 1] *= 2; break;
    case Layout::Narrowed: for (auto& d : alloc) d += 2; break;
    case Layout::ChannelsLast: alloc = {shape[0], shape[2], shape[3], shape[1]}; break;
    case Layout::OuterPermuted: std::swap(alloc[0], alloc[1]); break;
    case Layout::BroadcastOuter: alloc = dims ? Shape{shape.back()} : Shape{}; break;
    case Layout::BroadcastInner: alloc.back() = 1; break;
    case Layout::Scalar: alloc = {}; break;
    case Layout::Contiguous: break;
    }
    const std::int64_t pad = 16;
    at::Tensor base = at::empty({pad + numel_of(alloc) + pad}, at::TensorOptions().dtype(dtype));
    if (fill == Fill::Noise) fill_noise(base, seed);
    else fill_values(base, seed, fill == Fill::Values);
    at::Tensor v = base.narrow(0, pad, numel_of(alloc)).view(alloc);
    switch (layout) {
    case Layout::Transposed: return v.transpose(-1, -2);
    case Layout::EveryOther: return v.slice(-1, 0, alloc.back(), 2);
    case Layout::Narrowed:
        for (std::size_t d = 0; d < dims; ++d) v = v.narrow(static_cast<std::int64_t>(d), 1, shape[d]);
        return v;
    case Layout::ChannelsLast: return v.permute({0, 3, 1, 2});
    case Layout::OuterPermuted: return v.transpose(0, 1);
    default: return v;
    }
}

// --- The comparison ----------------------------------------------------------------------

struct Pair {
    at::Tensor dst, src;
};

inline std::vector<unsigned char> storage_bytes(const at::Tensor& t) {
    if (!t.defined() || !t.has_storage() || t.storage().data() == nullptr) return {};
    const auto* p = static_cast<const unsigned char*>(t.storage().data());
    return {p, p + t.storage().nbytes()};
}

inline std::array<std::uint64_t, 4> path_counts(const tilecopy::CopyEngine& engine) {
    const tilecopy::Stats s = engine.stats();
    return {s.tensor_contiguous, s.tensor_strided, s.tensor_converted, s.tensor_fallback};
}

// What torch's copy_ writes for a float32 NaN converted to bfloat16 over contiguous runs:
// 0xFFFF from its AVX2/AVX-512 kernels, 0x7FC0 from its scalar code (ATEN_CPU_CAPABILITY=default).
// The fused kernels write 0xFFFF, so the adapter takes the fused path only in the first case.
inline bool torch_writes_ffff_for_bf16_nan() {
    at::Tensor dst = at::empty({5}, at::kBFloat16);
    dst.copy_(at::full({5}, std::numeric_limits<float>::quiet_NaN(), at::kFloat));
    return static_cast<const std::uint16_t*>(dst.data_ptr())[4] == 0xFFFF;
}

inline std::optional<tilecopy::Conversion> fused(at::ScalarType dst, at::ScalarType src) {
    using tilecopy::Conversion;
    if (src == at::kFloat && dst == at::kBFloat16) return Conversion::F32ToBF16;
    if (src == at::kBFloat16 && dst == at::kFloat) return Conversion::BF16ToF32;
    if (src == at::kFloat && dst == at::kHalf) return Conversion::F32ToF16;
    if (src == at::kHalf && dst == at::kFloat) return Conversion::F16ToF32;
    return std::nullopt;
}

// The path the adapter's documented rules give for this pair (see lib/torch/tensor_rules.cpp).
inline std::optional<tilecopy::TensorPath> expected_path(const at::Tensor& dst, const at::Tensor& src, std::int64_t run) {
    if (dst.numel() == 0) return std::nullopt;
    const bool same = dst.scalar_type() == src.scalar_type();
    const auto conversion = fused(dst.scalar_type(), src.scalar_type());
    if (!same && !conversion) return tilecopy::TensorPath::Fallback;
    const bool one_run = dst.is_contiguous() && src.is_contiguous() && dst.sizes().equals(src.sizes());
    if (same && one_run) return tilecopy::TensorPath::Contiguous;
    // Several runs must each hold 4 KiB of the narrower element type (kMinRunBytes).
    const auto narrow = std::min(dst.element_size(), src.element_size());
    if (!one_run && (run == 0 || (dst.numel() > run && run * narrow < 4096))) return tilecopy::TensorPath::Fallback;
    // torch's scalar loop (0x7FC0 NaNs) runs without its vector kernels and for broadcast
    // single-element copies; the adapter hands every single-element one to copy_.
    if (conversion == tilecopy::Conversion::F32ToBF16 && (!torch_writes_ffff_for_bf16_nan() || dst.numel() == 1))
        return tilecopy::TensorPath::Fallback;
    return same ? tilecopy::TensorPath::Strided : tilecopy::TensorPath::Converted;
}

// --- Batches ----------------------------------------------------------------------------

// One pair of a batch: its layouts, dtypes and shape, and the innermost run contiguous in both
// tensors (elements; 0: none), from which expected_path derives the path.
struct Spec {
    Layout dst_layout, src_layout;
    at::ScalarType dst_type, src_type;
    Shape shape;
    std::int64_t run;
};

inline Pair spec_pair(const Spec& s, std::uint32_t seed) {
    return Pair{make_tensor(s.dst_layout, s.dst_type, s.shape, Fill::Noise, seed),
                make_tensor(s.src_layout, s.src_type, s.shape, Fill::Values, seed + 1)};
}

// Every kind of pair, small and large (blocks on the arenas), in an order that mixes them.
inline std::vector<Spec> mixed_specs() {
    using L = Layout;
    const auto f = at::kFloat;
    return {
        {L::Contiguous, L::Contiguous, f, f, {64, 256}, 64 * 256},
        {L::Narrowed, L::Contiguous, f, f, {5, 3000}, 3000},
        {L::Transposed, L::Contiguous, f, f, {33, 65}, 0},
        {L::Contiguous, L::Contiguous, at::kBFloat16, f, {4096}, 4096},
        {L::Contiguous, L::BroadcastOuter, f, f, {4, 1100}, 1100},
        {L::Contiguous, L::Contiguous, at::kInt, f, {100}, 100},
        {L::Contiguous, L::Contiguous, f, at::kBFloat16, {33, 65}, 33 * 65},
        {L::OuterPermuted, L::Contiguous, f, f, {3, 4, 1100}, 1100},
        {L::Contiguous, L::Contiguous, at::kDouble, at::kDouble, {0}, 0},
        {L::Narrowed, L::Contiguous, at::kHalf, f, {3, 4100}, 4100},
        {L::Contiguous, L::Contiguous, at::kByte, at::kByte, {1000}, 1000},
        {L::EveryOther, L::Contiguous, f, f, {7}, 0},
        {L::Contiguous, L::Contiguous, f, f, {256, 4096}, 256 * 4096},
        {L::Narrowed, L::Contiguous, at::kBFloat16, f, {64, 8192}, 8192},
        {L::Contiguous, L::Contiguous, f, at::kHalf, {512, 1024}, 512 * 1024},
        {L::Contiguous, L::Contiguous, at::kDouble, f, {1000}, 1000},
    };
}

struct Batch {
    std::vector<at::Tensor> dsts, srcs;
};

inline Batch make_batch(const std::vector<Spec>& specs, std::uint32_t seed) {
    Batch b;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        Pair p = spec_pair(specs[i], seed + 2 * static_cast<std::uint32_t>(i));
        b.dsts.push_back(p.dst);
        b.srcs.push_back(p.src);
    }
    return b;
}

inline std::vector<std::vector<unsigned char>> all_bytes(const Batch& b) {
    std::vector<std::vector<unsigned char>> out;
    for (const auto* list : {&b.dsts, &b.srcs})
        for (const at::Tensor& t : *list) out.push_back(storage_bytes(t));
    return out;
}

// all_bytes(b) == before, compared in place (no copy of the storages).
inline bool same_bytes(const Batch& b, const std::vector<std::vector<unsigned char>>& before) {
    std::size_t i = 0;
    for (const auto* list : {&b.dsts, &b.srcs})
        for (const at::Tensor& t : *list) {
            if (i == before.size()) return false;
            const std::vector<unsigned char>& was = before[i++];
            const bool has = t.defined() && t.has_storage() && t.storage().data() != nullptr;
            if (!has) {
                if (!was.empty()) return false;
                continue;
            }
            if (t.storage().nbytes() != was.size() ||
                (!was.empty() && std::memcmp(t.storage().data(), was.data(), was.size()) != 0))
                return false;
        }
    return i == before.size();
}

} // namespace tilecopy::test
