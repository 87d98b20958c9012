// Checksummed copies step by step (copy_with_crc directly): both orders of a streamed byte copy,
// the regular-store steps, and streamed conversions staged through L1, with every kernel and
// backend, lengths around the step sizes and destinations off their cache lines (the first
// streamed step ends on a line boundary).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "checksum.hpp"
#include "checksum_copy.hpp"
#include "crc_reference.hpp"
#include "kernel_support.hpp"

using namespace tilecopy;
using tilecopy::detail::CrcBackend;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;

namespace {

std::vector<CrcBackend> step_backends() {
    if (detail::isal_available()) return {CrcBackend::Portable, CrcBackend::Isal};
    return {CrcBackend::Portable};
}

} // namespace

TEST_CASE("both step orders of a streamed copy, and the regular-store steps, copy exactly and match the reference") {
    // copy_with_crc directly, every kernel's regular and non-temporal copy, both orders (the
    // engine takes one per CPU), lengths around the step sizes, both backends.
    const std::size_t lengths[] = {0, 1, 63, detail::kCrcChunkBytes - 1, detail::kCrcChunkBytes + 1,
                                   detail::kCrcStreamChunkBytes, 3 * detail::kCrcStreamChunkBytes + 77, 200003};
    // Destinations on a line and off it by 40 bytes: the streamed steps then start with a first
    // step of 24 bytes up to the line boundary.
    constexpr std::size_t kMax = 200003;
    GuardedBuffer src(kMax + 16);
    fill_pattern(src.data(), src.size(), 41);
    for (const auto* k : test::runnable_kernels()) {
        for (CrcBackend b : step_backends()) {
            for (detail::StreamOrder order : {detail::StreamOrder::CopyFirst, detail::StreamOrder::CrcFirst}) {
                for (bool nt : {false, true}) {
                    // (source offset, destination offset): a line apart, and off both.
                    for (const auto& offsets : {std::pair<std::size_t, std::size_t>{0, 0}, {5, 40}}) {
                        // Plain variables, not a structured binding: clang 14's lambdas (CAPTURE)
                        // cannot capture one.
                        const std::size_t src_off = offsets.first, dst_off = offsets.second;
                        for (std::size_t len : lengths) {
                            GuardedBuffer dst(len, dst_off);
                            const Checksum kind = (len + src_off) % 2 ? Checksum::crc32c : Checksum::crc32;
                            const std::uint32_t crc =
                                detail::copy_with_crc(*k, nt ? k->copy_nt : k->copy, Conversion::None, dst.data(),
                                                      src.data() + src_off, len, kind, b, order);
                            CAPTURE(std::string(k->name));
                            CAPTURE(detail::backend_name(b));
                            CAPTURE(order == detail::StreamOrder::CopyFirst);
                            CAPTURE(nt);
                            CAPTURE(src_off);
                            CAPTURE(dst_off);
                            CAPTURE(len);
                            CHECK(crc == test::bitwise_crc(kind, src.data() + src_off, len));
                            CHECK((len == 0 || std::memcmp(dst.data(), src.data() + src_off, len) == 0));
                            CHECK(dst.canaries_intact());
                        }
                    }
                }
            }
        }
    }
    CHECK(src.canaries_intact());
}


TEST_CASE("streamed conversions staged through L1 convert exactly and checksum the destination's bytes") {
    // A conversion whose kernel is a non-temporal one: each step converted into an L1 stage with
    // the regular kernel, summed there and streamed out, the next step's source prefetched.
    // Counts around the stage's step, destinations on a line and off it by whole elements (a
    // first step up to the line) or by a byte (no step on a line), against the regular kernel.
    struct Case {
        Conversion conversion;
        kernels::ConvertFn kernels::KernelSet::*nt;
        kernels::ConvertFn kernels::KernelSet::*regular;
    };
    using kernels::KernelSet;
    const Case cases[] = {
        {Conversion::F32ToBF16, &KernelSet::f32_to_bf16_nt, &KernelSet::f32_to_bf16},
        {Conversion::BF16ToF32, &KernelSet::bf16_to_f32_nt_unfenced, &KernelSet::bf16_to_f32},
        {Conversion::F32ToF16, &KernelSet::f32_to_f16_nt_unfenced, &KernelSet::f32_to_f16},
        {Conversion::F16ToF32, &KernelSet::f16_to_f32_nt, &KernelSet::f16_to_f32},
    };
    for (const auto* k : test::runnable_kernels()) {
        // Function pointers compared first: doctest would print them as data pointers.
        const bool copies_have_none = detail::regular_conversion(*k, k->copy_nt) == nullptr &&
                                      detail::regular_conversion(*k, k->f32_to_bf16) == nullptr;
        CHECK(copies_have_none);
        for (const Case& c : cases) {
            const std::size_t des = dst_element_size(c.conversion), ses = src_element_size(c.conversion);
            const std::size_t step = detail::kCrcStageBytes / std::max(des, ses);
            const bool regular_found = detail::regular_conversion(*k, k->*c.nt) == k->*c.regular;
            REQUIRE(regular_found);
            const std::size_t counts[] = {0, 1, 17, step - 1, step, step + 1, 3 * step + 5, 20011};
            GuardedBuffer src(20011 * ses + 8);
            fill_pattern(src.data(), src.size(), 43);
            for (CrcBackend b : step_backends()) {
                for (const std::size_t dst_off : {std::size_t(0), 2 * des, 64 - des, std::size_t(1)}) {
                    for (const std::size_t count : counts) {
                        GuardedBuffer dst(count * des, dst_off), plain(count * des);
                        (k->*c.regular)(plain.data(), src.data() + ses, count);
                        const Checksum kind = (count + dst_off) % 2 ? Checksum::crc32c : Checksum::crc32;
                        const std::uint32_t crc = detail::copy_with_crc(*k, k->*c.nt, c.conversion, dst.data(),
                                                                        src.data() + ses, count, kind, b,
                                                                        detail::StreamOrder::CopyFirst);
                        CAPTURE(std::string(k->name));
                        CAPTURE(detail::backend_name(b));
                        CAPTURE(static_cast<int>(c.conversion));
                        CAPTURE(dst_off);
                        CAPTURE(count);
                        CHECK(crc == test::bitwise_crc(kind, plain.data(), count * des));
                        CHECK((count == 0 || std::memcmp(dst.data(), plain.data(), count * des) == 0));
                        CHECK(dst.canaries_intact());
                    }
                }
            }
            CHECK(src.canaries_intact());
        }
    }
}
