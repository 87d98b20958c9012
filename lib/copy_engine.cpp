// The API edge: checks input, throws tilecopy::Error, and reduces every overload to regions
// that the planner understands.
#include <tilecopy/copy_engine.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine.hpp"
#include "validate.hpp"

namespace tilecopy {

Error::~Error() = default;

CopyEngine::CopyEngine() : CopyEngine(Options{}) {}

CopyEngine::CopyEngine(const Options& options) : CopyEngine(options, detail::load_topology(options)) {}

CopyEngine::CopyEngine(const Options& options, std::shared_ptr<detail::Topology> topology) {
    if (!topology) throw Error("tilecopy: CopyEngine needs a topology (got a null pointer)");
    impl_ = std::make_unique<detail::Engine>(options, std::move(topology));
    small_.below = impl_->small_copy_below();
}

CopyEngine::~CopyEngine() = default;

namespace {

// CopyEngine::copy past its small path: an empty copy, a rejected one, or one for run().
[[gnu::noinline, gnu::cold]] void copy_rest(detail::Engine& engine, const Region& region) {
    if (region.count == 0) return;
    detail::validate_region(region, Conversion::None, 0, 1);
    engine.run(&region, 1, Conversion::None);
}

} // namespace

// copy() past its path in the caller: a small copy from a thread other than the one that counts
// in the engine object (the first to get here becomes that one), and every other copy. Its small
// path is one straight run of code (the rest out of line, in copy_rest) over two lines of the
// engine: the thresholds, and the counters' first line.
void CopyEngine::copy_outside(void* dst, const void* src, std::size_t bytes) {
    // Start the buffers' page walks and line fills now, so that after idleness they overlap
    // the engine's own cold lines instead of following them (a prefetch never faults).
    __builtin_prefetch(src, 0);
    __builtin_prefetch(dst, 1);
    if (__builtin_expect(small_.owner.load(std::memory_order_relaxed) == detail::SmallCopyLine::kNoOwner, 0)) {
        std::uintptr_t none = detail::SmallCopyLine::kNoOwner;
        if (const std::uintptr_t tp = detail::thread_pointer())
            small_.owner.compare_exchange_strong(none, tp, std::memory_order_relaxed);
    }
    const Region region{dst, src, bytes};
    if (__builtin_expect(bytes != 0 && detail::region_valid(region, Conversion::None), 1) &&
        __builtin_expect(impl_->copy_small(dst, src, bytes), 1))
        return;
    copy_rest(*impl_, region);
}

void CopyEngine::copy_regions(const Region* regions, std::size_t count, Conversion conversion) {
    if (count == 0) return;
    if (regions == nullptr)
        throw Error("tilecopy: copy_regions got a null region array with count " + std::to_string(count));
    detail::validate_regions(regions, count, conversion);
    impl_->run(regions, count, conversion);
}

void CopyEngine::copy_batch(const std::vector<Region>& regions, Conversion conversion) {
    copy_regions(regions.data(), regions.size(), conversion);
}

CopyHandle CopyEngine::copy_async(void* dst, const void* src, std::size_t bytes) {
    return copy_async(dst, src, bytes, AsyncOptions{});
}

CopyHandle CopyEngine::copy_batch_async(std::vector<Region> regions, Conversion conversion) {
    return copy_batch_async(std::move(regions), AsyncOptions{}, conversion);
}

CopyHandle CopyEngine::copy_async(void* dst, const void* src, std::size_t bytes, const AsyncOptions& limits) {
    std::vector<Region> regions;
    if (bytes) regions.push_back(Region{dst, src, bytes});
    return copy_batch_async(std::move(regions), limits, Conversion::None);
}

CopyHandle CopyEngine::copy_batch_async(std::vector<Region> regions, const AsyncOptions& limits, Conversion conversion) {
    const std::uint64_t total = detail::validate_regions(regions.data(), regions.size(), conversion);
    detail::Engine* engine = impl_.get();
    return impl_->submit(
        [engine, regions = std::move(regions), conversion](detail::AsyncState& state) {
            engine->run(regions.data(), regions.size(), conversion, &state.copied);
        },
        total, nullptr, limits);
}

Stats CopyEngine::stats() const {
    using namespace detail;
    const auto c = impl_->counters.snapshot();
    Stats s;
    // The copies run in the caller (copy_engine.hpp) count in the engine object.
    const std::uint64_t small_copies = small_.copies.load(std::memory_order_relaxed);
    s.copies = c[kCopies] + small_copies;
    s.bytes = c[kBytes] + small_.bytes.load(std::memory_order_relaxed);
    s.inline_copies = c[kInlineCopies] + small_copies;
    s.parallel_copies = c[kParallelCopies];
    s.nontemporal_copies = c[kNontemporalCopies];
    s.tensor_contiguous = c[kTensorContiguous];
    s.tensor_strided = c[kTensorStrided];
    s.tensor_converted = c[kTensorConverted];
    s.tensor_fallback = c[kTensorFallback];
    return s;
}

const char* CopyEngine::kernel() const noexcept { return impl_->kernel().name; }

const Options& CopyEngine::options() const noexcept { return impl_->options(); }

void CopyEngine::warm_up() { impl_->warm_up(); }

CopyEngine& default_engine() {
    static CopyEngine engine;
    return engine;
}

} // namespace tilecopy
