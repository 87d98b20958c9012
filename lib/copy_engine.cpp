// The API edge: checks input, throws tilecopy::Error, and reduces every overload to regions
// that the planner understands.
#include <tilecopy/copy_engine.hpp>
#include <tilecopy/version.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "adapter.hpp"
#include "checksum_copy.hpp"
#include "engine.hpp"
#include "placement.hpp"
#include "profile.hpp"
#include "strategy.hpp"
#include "validate.hpp"

namespace tilecopy {

Error::~Error() = default;

namespace detail {

namespace {

const char* policy_name(NumaPolicy p) {
    switch (p) {
    case NumaPolicy::Auto: return "auto";
    case NumaPolicy::Interleave: return "interleave";
    case NumaPolicy::Node: return "node";
    case NumaPolicy::Off: return "off";
    }
    return "?";
}

// The kernel the user asked for, and where the request came from.
std::string kernel_request(const Options& options, std::string* reason = nullptr) {
    if (!options.kernel.empty()) {
        if (reason) *reason = "forced by Options::kernel";
        return options.kernel;
    }
    const char* env = std::getenv("TILECOPY_KERNEL");
    if (env && *env) {
        if (reason) *reason = "forced by $TILECOPY_KERNEL";
        return env;
    }
    if (reason) *reason = "best this CPU supports";
    return "";
}

MachineFacts facts_of(const Topology& topology) {
    MachineFacts f;
    f.l2_bytes = topology.l2_bytes();
    f.llc_bytes = topology.llc_bytes();
    f.nodes = topology.nodes().size();
    f.pus = 0;
    for (const auto& n : topology.nodes()) f.pus += n.pus.size();
    return f;
}

// Options, then the environment, then this machine's profile, then the fallbacks.
Strategy make_strategy(const Options& options, const Topology& topology) {
    const MachineFacts facts = facts_of(topology);
    std::string note;
    const std::optional<Profile> profile = profile_for(facts, note);
    Strategy s = resolve_strategy(options, Environment::from_process(), profile ? &*profile : nullptr, facts);
    s.profile_note = std::move(note);
    return s;
}

// The options with every default replaced by the strategy's value (what options() returns).
Options resolve(Options o, const Strategy& s, const Topology& topology, std::string* reason) {
    o.threads = s.threads.value;
    o.block_bytes = s.block_bytes.value;
    o.inline_threshold = s.inline_threshold.value;
    o.nontemporal_threshold = s.nontemporal_threshold.value;
    o.linger_us = s.linger_us.value;
    if (o.numa == NumaPolicy::Node &&
        (o.numa_node < 0 || static_cast<std::size_t>(o.numa_node) >= topology.nodes().size()))
        throw Error("tilecopy: Options::numa_node " + std::to_string(o.numa_node) + " is not a node of this topology (" +
                    std::to_string(topology.nodes().size()) + " nodes)");
    o.kernel = choose_kernel(kernel_request(o, reason)).name;
    o.checksum_impl = backend_name(choose_backend(o.checksum_impl));
    return o;
}

} // namespace

Engine::Engine(const Options& options, std::shared_ptr<Topology> topology)
    : strategy_(make_strategy(options, *topology)),
      options_(resolve(options, strategy_, *topology, &kernel_reason_)),
      l2_bytes_(topology->l2_bytes()),
      llc_bytes_(topology->llc_bytes()),
      generation_(fork_generation()),
      kernel_(&choose_kernel(options_.kernel)),
      scheduler_(std::move(topology), options_) {}

Engine::~Engine() {
    if (fork_generation() != generation_) scheduler_.abandon();
}

bool Engine::forked() const noexcept { return fork_generation() != generation_ || scheduler_.serial(); }

namespace {

kernels::CopyFn pick(const kernels::KernelSet& k, Conversion c, bool nt) noexcept {
    switch (c) {
    case Conversion::None: return nt ? k.copy_nt : k.copy;
    case Conversion::F32ToBF16: return nt ? k.f32_to_bf16_nt : k.f32_to_bf16;
    case Conversion::BF16ToF32: return nt ? k.bf16_to_f32_nt : k.bf16_to_f32;
    case Conversion::F32ToF16: return nt ? k.f32_to_f16_nt : k.f32_to_f16;
    case Conversion::F16ToF32: return nt ? k.f16_to_f32_nt : k.f16_to_f32;
    }
    return k.copy;
}

} // namespace

void Engine::copy_bytes(void* dst, const void* src, std::size_t bytes) {
    if (below_inline(strategy_, bytes)) { // decide()'s inline case, without the rest of a Decision
        const bool nt = nontemporal_for(strategy_, bytes);
        (nt ? kernel_->copy_nt : kernel_->copy)(dst, src, bytes);
        counters.add(kCopies, 1);
        counters.add(kBytes, bytes);
        counters.add(kInlineCopies, 1);
        if (nt) counters.add(kNontemporalCopies, 1);
        return;
    }
    const Region region{dst, const_cast<void*>(src) /* const again in Region */, bytes};
    run(&region, 1, Conversion::None);
}

void Engine::run(const Region* regions, std::size_t count, Conversion conversion,
                 std::atomic<std::uint64_t>* progress, PlanChecksums* sums) {
    const std::size_t des = dst_element_size(conversion);
    std::size_t dst_bytes = 0;
    for (std::size_t r = 0; r < count; ++r) dst_bytes += regions[r].count * des;
    const Decision d = decide(strategy_, dst_bytes, scheduler_.total_concurrency(), forked());
    const bool nt = d.nontemporal;
    const kernels::CopyFn fn = pick(*kernel_, conversion, nt);
    const bool counted = !sums || sums->copies(); // a checksum alone is no copy

    if (!d.parallel) {
        if (sums)
            sums->run_inline(regions, count, conversion, fn);
        else
            for (std::size_t r = 0; r < count; ++r)
                if (regions[r].count) fn(regions[r].dst, regions[r].src, regions[r].count);
        if (progress) progress->fetch_add(dst_bytes, std::memory_order_relaxed);
        if (counted) counters.add(kInlineCopies, 1);
    } else {
        Plan plan;
        try {
            plan = make_plan(regions, count, conversion,
                             PlanOptions{options_.tile_bytes, d.block_bytes, d.tail_bytes, d.threads});
            place_blocks(plan, scheduler_.topology(), options_.numa, options_.numa_node);
            if (sums) sums->prepare(plan);
        } catch (const std::bad_alloc&) {
            throw Error("tilecopy: out of memory planning a copy of " + std::to_string(dst_bytes) + " bytes in blocks of " +
                        std::to_string(d.block_bytes) + " bytes (Options::block_bytes)");
        }
        scheduler_.run(plan, [&plan, fn, progress, des, sums](const Block& block) noexcept {
            std::size_t done = 0;
            if (sums)
                done = sums->run_block(plan, block, fn);
            else
                for_each_piece(plan, block, [fn, &done](char* d, const char* s, std::size_t n) noexcept {
                    fn(d, s, n);
                    done += n;
                });
            if (progress) progress->fetch_add(done * des, std::memory_order_relaxed);
        });
        if (sums) sums->finish(plan);
        if (counted) counters.add(kParallelCopies, 1);
    }
    if (!counted) return;
    counters.add(kCopies, 1);
    counters.add(kBytes, dst_bytes);
    if (nt) counters.add(kNontemporalCopies, 1);
}

CopyHandle Engine::submit(std::function<void(AsyncState&)> work, std::uint64_t total_bytes,
                          std::shared_ptr<void> keep_alive) {
    auto state = std::make_shared<AsyncState>();
    state->work = std::move(work);
    state->total = total_bytes;
    state->keep_alive = std::move(keep_alive);
    state->generation = fork_generation();
    // In a forked child there is no submitter thread; a tiny copy costs the caller less than
    // handing it over (README, "Asynchronous copies"): both run now, on the caller's thread.
    if (forked() || total_bytes <= kInlineAsyncBytes)
        state->run();
    else
        executor_.submit(state, total_bytes < options_.inline_threshold ? Lane::Small : Lane::Bulk);
    return CopyHandle(std::move(state));
}


} // namespace detail

CopyEngine::CopyEngine() : CopyEngine(Options{}) {}

CopyEngine::CopyEngine(const Options& options) : CopyEngine(options, detail::load_topology(options)) {}

CopyEngine::CopyEngine(const Options& options, std::shared_ptr<detail::Topology> topology) {
    if (!topology) throw Error("tilecopy: CopyEngine needs a topology (got a null pointer)");
    impl_ = std::make_unique<detail::Engine>(options, std::move(topology));
}

CopyEngine::~CopyEngine() = default;

void CopyEngine::copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    const Region region{dst, src, bytes};
    detail::validate_region(region, Conversion::None, 0, 1);
    impl_->copy_bytes(dst, src, bytes);
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
    std::vector<Region> regions;
    if (bytes) regions.push_back(Region{dst, src, bytes});
    return copy_batch_async(std::move(regions), Conversion::None);
}

CopyHandle CopyEngine::copy_batch_async(std::vector<Region> regions, Conversion conversion) {
    const std::uint64_t total = detail::validate_regions(regions.data(), regions.size(), conversion);
    detail::Engine* engine = impl_.get();
    return impl_->submit(
        [engine, regions = std::move(regions), conversion](detail::AsyncState& state) {
            engine->run(regions.data(), regions.size(), conversion, &state.copied);
        },
        total, nullptr);
}

std::vector<std::string> CopyEngine::describe() const {
    const detail::Engine& e = *impl_;
    const Options& o = e.options();
    const auto& cpu = detail::cpu_features();
    std::vector<std::string> lines;
    lines.push_back(std::string("tilecopy ") + TILECOPY_VERSION);

    std::string compiled;
    for (const auto* k : detail::compiled_kernels()) compiled += (compiled.empty() ? "" : ", ") + std::string(k->name);
    lines.push_back("kernel: " + o.kernel + " (" + e.kernel_reason() + "; compiled: " + compiled + ")");
    std::string feats;
    auto add = [&feats](bool on, const char* name) {
        if (on) feats += (feats.empty() ? "" : " ") + std::string(name);
    };
    add(cpu.avx2, "avx2");
    add(cpu.fma, "fma");
    add(cpu.f16c, "f16c");
    add(cpu.avx512f, "avx512f");
    add(cpu.avx512bw, "avx512bw");
    add(cpu.avx512vl, "avx512vl");
    add(cpu.avx512bf16, "avx512bf16");
    add(cpu.os_ymm, "os:ymm");
    add(cpu.os_zmm, "os:zmm");
    lines.push_back("cpu: " + (feats.empty() ? std::string("baseline x86-64") : feats));
    lines.push_back("checksums: " + o.checksum_impl);
    lines.push_back("threads: " + std::to_string(e.scheduler().total_concurrency()) + " (the caller's thread included; " +
                    detail::origin_text(e.strategy().threads) + ")");
    using detail::size_text;
    lines.push_back("caches: L2 " + size_text(e.l2_bytes()) + " per core, last level " + size_text(e.llc_bytes()));
    for (const auto& line : detail::describe_strategy(e.strategy())) lines.push_back(line);
    const auto& topo = e.scheduler().topology();
    lines.push_back("topology: " + topo.source() + ", " + std::to_string(topo.nodes().size()) + " NUMA node(s)");
    lines.push_back("allowed CPUs: " + topo.allowed_cpuset() + " (the process's CPU affinity when the engine was made)");
    lines.push_back(std::string("numa policy: ") + detail::policy_name(o.numa) +
                    (o.numa == NumaPolicy::Node ? " " + std::to_string(o.numa_node) : ""));
    std::size_t i = 0;
    for (const auto& a : e.scheduler().arenas()) {
        lines.push_back("arena " + std::to_string(i++) + ": " + (a.node >= 0 ? "node " + std::to_string(a.node) : "all nodes") +
                        ", cpuset " + a.cpuset + ", " + std::to_string(a.concurrency) + " threads, " + a.pinning);
    }
    for (std::string& line : detail::adapter::describe_lines()) lines.push_back(std::move(line));
    return lines;
}

Stats CopyEngine::stats() const {
    using namespace detail;
    const auto c = impl_->counters.snapshot();
    Stats s;
    s.copies = c[kCopies];
    s.bytes = c[kBytes];
    s.inline_copies = c[kInlineCopies];
    s.parallel_copies = c[kParallelCopies];
    s.nontemporal_copies = c[kNontemporalCopies];
    s.tensor_contiguous = c[kTensorContiguous];
    s.tensor_strided = c[kTensorStrided];
    s.tensor_converted = c[kTensorConverted];
    s.tensor_fallback = c[kTensorFallback];
    s.kernels.push_back(KernelCounters{impl_->kernel().name, s.copies, s.bytes});
    return s;
}

const char* CopyEngine::kernel() const noexcept { return impl_->kernel().name; }

const Options& CopyEngine::options() const noexcept { return impl_->options(); }

void CopyEngine::record(TensorPath path) noexcept {
    impl_->counters.add(static_cast<detail::Counter>(detail::kTensorContiguous + (static_cast<unsigned>(path) & 3)), 1);
}

CopyEngine& default_engine() {
    static CopyEngine engine;
    return engine;
}

} // namespace tilecopy
