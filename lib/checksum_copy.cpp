#include "checksum_copy.hpp"

#include <algorithm>
#include <cstdint>

namespace tilecopy::detail {

StreamOrder stream_order_for(CrcBackend backend, Checksum kind) noexcept {
    const bool fast = backend == CrcBackend::Isal && (kind == Checksum::crc32c || fast_isal_crc());
    return fast ? StreamOrder::CopyFirst : StreamOrder::CrcFirst;
}

namespace {

void store_fence() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#endif
}

// Asks for the lines of [p, p + bytes) without waiting for them (prefetchnta: a hint to keep
// them out of the outer caches). Only addresses inside the range are named.
void prefetch_source(const char* p, std::size_t bytes) noexcept {
    for (std::size_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, 0, 0);
}

} // namespace

kernels::CopyFn regular_conversion(const kernels::KernelSet& k, kernels::CopyFn fn) noexcept {
    if (fn == k.f32_to_bf16_nt || fn == k.f32_to_bf16_nt_unfenced) return k.f32_to_bf16;
    if (fn == k.bf16_to_f32_nt || fn == k.bf16_to_f32_nt_unfenced) return k.bf16_to_f32;
    if (fn == k.f32_to_f16_nt || fn == k.f32_to_f16_nt_unfenced) return k.f32_to_f16;
    if (fn == k.f16_to_f32_nt || fn == k.f16_to_f32_nt_unfenced) return k.f16_to_f32;
    return nullptr;
}

std::uint32_t copy_with_crc(const kernels::KernelSet& kernels, kernels::CopyFn fn, Conversion conversion, void* dst,
                            const void* src, std::size_t count, Checksum kind, CrcBackend backend,
                            StreamOrder order) noexcept {
    const std::size_t ses = src_element_size(conversion);
    if (!fn) return crc_update(backend, kind, 0, src, count * ses);
    const std::size_t des = dst_element_size(conversion);
    const bool bytes = conversion == Conversion::None;
    // Non-temporal steps skip the kernel's closing sfence; one after the last orders them all
    // (an sfence per 16 KiB step ran at 0.53-0.67x the plain copy of 64-256 MiB, one per piece at
    // 0.60-0.78x: 8 of 8 interleaved pairs, AVX2 EPYC VM under load).
    const bool stream = bytes && fn == kernels.copy_nt;
    // A streamed conversion is staged: each step converted into `stage` (L1) with the regular
    // kernel, its CRC taken there, and the stage streamed out (checksum_copy.hpp).
    const kernels::CopyFn convert = bytes ? nullptr : regular_conversion(kernels, fn);
    const kernels::CopyFn step_fn = stream ? kernels.copy_nt_unfenced : fn;
    const std::size_t step = (stream ? kCrcStreamChunkBytes : convert ? kCrcStageBytes : kCrcChunkBytes) / std::max(des, ses);
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    // Streamed steps start on the destination's lines: a first step up to the first line boundary
    // (where the elements reach one); the steps are whole lines, so only the last ends inside one.
    const std::size_t head = (64 - reinterpret_cast<std::uintptr_t>(d) % 64) % 64;
    std::size_t n = std::min(step, count);
    if ((stream || convert) && head % des == 0 && head / des > 0 && head / des < n) n = head / des;
    std::uint32_t crc = 0;
    if (convert) {
        alignas(64) unsigned char stage[kCrcStageBytes];
        for (std::size_t done = 0; done < count; done += n, n = std::min(step, count - done)) {
            const char* sn = s + done * ses;
            // The next step's source lines are requested before this step is converted, so they
            // arrive while it is summed and streamed out.
            if (done + n < count) prefetch_source(sn + n * ses, std::min(step, count - done - n) * ses);
            convert(stage, sn, n);
            crc = crc_update(backend, kind, crc, stage, n * des);
            kernels.copy_nt_unfenced(d + done * des, stage, n * des);
        }
        store_fence();
        return crc;
    }
    for (std::size_t done = 0; done < count; done += n, n = std::min(step, count - done)) {
        char* dn = d + done * des;
        const char* sn = s + done * ses;
        if (stream && order == StreamOrder::CopyFirst) {
            step_fn(dn, sn, n);
            crc = crc_update(backend, kind, crc, sn, n);
        } else if (bytes) {
            crc = crc_update(backend, kind, crc, sn, n);
            step_fn(dn, sn, n);
        } else {
            step_fn(dn, sn, n);
            crc = crc_update(backend, kind, crc, dn, n * des);
        }
    }
    if (stream) store_fence();
    return crc;
}

void PlanChecksums::prepare(const Plan& plan) {
    first_slot_.resize(plan.blocks.size());
    std::size_t slots = 0;
    for (std::size_t b = 0; b < plan.blocks.size(); ++b) {
        first_slot_[b] = slots;
        slots += plan.blocks[b].last - plan.blocks[b].first + 1;
    }
    slots_.assign(slots, 0);
}

std::size_t PlanChecksums::run_block(const Plan& plan, const Block& block, kernels::CopyFn fn) noexcept {
    const std::size_t des = dst_element_size(plan.conversion);
    const std::size_t ses = src_element_size(plan.conversion);
    std::uint32_t* slot = slots_.data() + first_slot_[static_cast<std::size_t>(&block - plan.blocks.data())];
    std::size_t done = 0;
    for (std::size_t r = block.first; r <= block.last; ++r, ++slot) {
        const Region& region = plan.regions[r];
        const std::size_t b = r == block.first ? block.begin : 0;
        const std::size_t e = r == block.last ? block.end : region.count;
        if (e <= b) continue;
        *slot = copy_with_crc(*kernels_, copies_ ? fn : nullptr, plan.conversion, static_cast<char*>(region.dst) + b * des,
                              static_cast<const char*>(region.src) + b * ses, e - b, kind_, backend_, order_);
        done += e - b;
    }
    return done;
}

void PlanChecksums::finish(const Plan& plan) noexcept {
    // The bytes a CRC covers: the destination's, or the source's when nothing is copied.
    const std::size_t width = copies_ ? dst_element_size(plan.conversion) : src_element_size(plan.conversion);
    for (std::size_t r = 0; r < plan.region_count; ++r) out_[r] = 0;
    // Most pieces share the block size: their shift operators are computed once each.
    CrcShifts shifts(kind_);
    for (std::size_t k = 0; k < plan.blocks.size(); ++k) {
        const Block& block = plan.blocks[k];
        const std::uint32_t* slot = slots_.data() + first_slot_[k];
        for (std::size_t r = block.first; r <= block.last; ++r, ++slot) {
            const std::size_t b = r == block.first ? block.begin : 0;
            const std::size_t e = r == block.last ? block.end : plan.regions[r].count;
            if (e <= b) continue;
            out_[r] = crc_combine_shifted(kind_, out_[r], *slot, shifts.get(std::uint64_t(e - b) * width));
        }
    }
}

void PlanChecksums::run_inline(const Region* regions, std::size_t count, Conversion conversion,
                               kernels::CopyFn fn) noexcept {
    for (std::size_t r = 0; r < count; ++r)
        out_[r] = copy_with_crc(*kernels_, copies_ ? fn : nullptr, conversion, regions[r].dst, regions[r].src, regions[r].count,
                                kind_, backend_, order_);
}

} // namespace tilecopy::detail
