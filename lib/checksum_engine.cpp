// The checksumming overloads of CopyEngine and CopyHandle: the same checks and schedule as the
// plain copies (copy_engine.cpp), with a PlanChecksums riding on the block runner.
#include <tilecopy/checksum.hpp>
#include <tilecopy/copy_engine.hpp>

#include <string>
#include <utility>
#include <vector>

#include "adapter/adapter.hpp"
#include "checksum_copy.hpp"
#include "engine.hpp"
#include "validate.hpp"

namespace tilecopy {

namespace detail {

namespace {

CrcBackend backend_of(const Engine& engine) noexcept {
    return engine.options().checksum_impl == "isal" ? CrcBackend::Isal : CrcBackend::Portable;
}

// Validated regions, copied and checksummed; out gets one CRC per region.
void run_checksummed(Engine& engine, const Region* regions, std::size_t count, Conversion conversion, Checksum kind,
                     std::uint32_t* out, std::atomic<std::uint64_t>* progress = nullptr) {
    if (kind == Checksum::none) {
        engine.run(regions, count, conversion, progress);
        for (std::size_t r = 0; r < count; ++r) out[r] = 0;
        return;
    }
    PlanChecksums sums(kind, backend_of(engine), engine.kernel(), /*copies=*/true, out);
    engine.run(regions, count, conversion, progress, &sums);
}

} // namespace

void adapter::run_checksummed(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
                              Checksum kind, std::uint32_t* out, std::atomic<std::uint64_t>* progress) {
    check_kind(kind);
    detail::run_checksummed(internals(engine), regions, count, conversion, kind, out, progress);
}

CopyHandle adapter::submit_checksummed(CopyEngine& engine, ChecksumWork work, std::size_t count,
                                       std::uint64_t total_bytes, std::shared_ptr<void> keep_alive,
                                       const AsyncOptions& limits) {
    return internals(engine).submit(
        [work = std::move(work), count](AsyncState& state) {
            state.checksums.assign(count, 0);
            state.checksummed = true;
            work(state.copied, state.checksums.data());
        },
        total_bytes, std::move(keep_alive), limits);
}

void adapter::checksum_regions(CopyEngine& engine, const Region* regions, std::size_t count, Checksum kind,
                               std::uint32_t* out) {
    check_kind(kind);
    for (std::size_t r = 0; r < count; ++r) out[r] = 0;
    if (kind == Checksum::none || count == 0) return;
    PlanChecksums sums(kind, backend_of(internals(engine)), internals(engine).kernel(), /*copies=*/false, out);
    internals(engine).run(regions, count, Conversion::None, nullptr, &sums);
}

} // namespace detail

std::uint32_t CopyEngine::copy(void* dst, const void* src, std::size_t bytes, Checksum kind) {
    detail::check_kind(kind);
    if (bytes == 0 || kind == Checksum::none) {
        copy(dst, src, bytes);
        return 0;
    }
    const Region region{dst, src, bytes};
    detail::validate_region(region, Conversion::None, 0, 1);
    std::uint32_t crc = 0;
    detail::run_checksummed(*impl_, &region, 1, Conversion::None, kind, &crc);
    return crc;
}

std::vector<std::uint32_t> CopyEngine::copy_batch(const std::vector<Region>& regions, Checksum kind,
                                                  Conversion conversion) {
    detail::check_kind(kind);
    detail::validate_regions(regions.data(), regions.size(), conversion);
    std::vector<std::uint32_t> out(regions.size(), 0);
    if (!regions.empty()) detail::run_checksummed(*impl_, regions.data(), regions.size(), conversion, kind, out.data());
    return out;
}

CopyHandle CopyEngine::copy_async(void* dst, const void* src, std::size_t bytes, Checksum kind) {
    // One region even for zero bytes, so that checksum() has its one value (0).
    return copy_batch_async(std::vector<Region>{Region{dst, src, bytes}}, kind, Conversion::None);
}

CopyHandle CopyEngine::copy_batch_async(std::vector<Region> regions, Checksum kind, Conversion conversion) {
    detail::check_kind(kind);
    const std::uint64_t total = detail::validate_regions(regions.data(), regions.size(), conversion);
    detail::Engine* engine = impl_.get();
    const std::size_t count = regions.size();
    return detail::adapter::submit_checksummed(
        *this,
        [engine, regions = std::move(regions), conversion, kind](std::atomic<std::uint64_t>& copied,
                                                                 std::uint32_t* out) {
            if (!regions.empty())
                detail::run_checksummed(*engine, regions.data(), regions.size(), conversion, kind, out, &copied);
        },
        count, total, nullptr);
}

std::uint32_t CopyEngine::checksum(const void* data, std::size_t bytes, Checksum kind) {
    detail::check_kind(kind);
    if (bytes == 0 || kind == Checksum::none) return 0;
    if (data == nullptr) throw Error("tilecopy: checksum got a null pointer with " + std::to_string(bytes) + " bytes");
    const auto end = reinterpret_cast<std::uintptr_t>(data) + bytes;
    if (end < reinterpret_cast<std::uintptr_t>(data))
        throw Error("tilecopy: checksum of " + std::to_string(bytes) + " bytes at " + std::to_string(reinterpret_cast<std::uintptr_t>(data)) +
                    " runs past the end of the address space");
    // The plan cuts blocks on the "destination's" lines; here that is the buffer itself, which
    // is only read (PlanChecksums copies nothing).
    const Region region{const_cast<void*>(data), data, bytes};
    std::uint32_t crc = 0;
    detail::PlanChecksums sums(kind, detail::backend_of(*impl_), impl_->kernel(), /*copies=*/false, &crc);
    impl_->run(&region, 1, Conversion::None, nullptr, &sums);
    return crc;
}

std::uint32_t CopyHandle::checksum() {
    std::vector<std::uint32_t> all = checksums();
    if (all.size() != 1)
        throw Error("tilecopy: CopyHandle::checksum() of a batch of " + std::to_string(all.size()) +
                    " regions; checksums() gives one per region");
    return all[0];
}

std::vector<std::uint32_t> CopyHandle::checksums() {
    wait();
    if (!state_ || !state_->checksummed)
        throw Error("tilecopy: this copy was started without a checksum (copy_async(dst, src, bytes, Checksum::crc32c) "
                    "or copy_batch_async(regions, kind) computes one)");
    return state_->checksums;
}

} // namespace tilecopy
