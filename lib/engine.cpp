// The engine behind CopyEngine: the strategy and kernel resolved once, then every copy through
// run() (inline first) and every asynchronous one through submit().
#include "engine.hpp"

#include <algorithm>
#include <chrono>
#include <new>
#include <string>

#include "checksum_copy.hpp"
#include "placement.hpp"
#include "plan.hpp"
#include "profile.hpp"

namespace tilecopy::detail {

namespace {

MachineFacts facts_of(const Topology& topology) {
    MachineFacts f;
    f.l2_bytes = topology.l2_bytes();
    f.llc_bytes = topology.llc_bytes();
    f.nodes = topology.nodes().size();
    f.pus = 0;
    for (const auto& n : topology.nodes()) f.pus += n.pus.size();
    f.machine_pus = topology.machine_pus();
    f.machine_nodes = topology.machine_nodes();
    return f;
}

// Options, then the environment, then this machine's profile, then the fallbacks.
Strategy make_strategy(const Options& options, const Topology& topology) {
    if (options.numa == NumaPolicy::Node &&
        (options.numa_node < 0 || static_cast<std::size_t>(options.numa_node) >= topology.nodes().size()))
        throw Error("tilecopy: Options::numa_node " + std::to_string(options.numa_node) +
                    " is not a node of this topology (" + std::to_string(topology.nodes().size()) + " nodes)");
    const MachineFacts facts = facts_of(topology);
    std::string note;
    const std::optional<Profile> profile = profile_for(facts, note);
    Strategy s = resolve_strategy(options, Environment::from_process(), profile ? &*profile : nullptr, facts);
    s.profile_note = std::move(note);
    return s;
}

// The options with every default replaced by the value in use (what options() returns).
Options resolved(Options o, const Strategy& s, const kernels::KernelSet& kernel) {
    o.threads = s.threads.value;
    o.block_bytes = s.block_bytes.value;
    o.inline_threshold = s.inline_threshold.value;
    o.idle_inline_threshold = s.idle_inline_threshold.value;
    o.string_copy_threshold = s.string_copy_threshold.value;
    o.nontemporal_threshold = s.nontemporal_threshold.value;
    o.linger_us = s.linger_us.value;
    o.async_inline_bytes = s.async_inline_bytes.value;
    o.async_small_bytes = s.async_small_bytes.value;
    o.min_run_bytes = s.min_run_bytes.value;
    o.async.threads = s.async_threads.value;
    o.async.bytes_per_second =
        s.async_bytes_per_second.value == kNever ? AsyncOptions::kUnlimited : s.async_bytes_per_second.value;
    o.async.priority = s.async_priority.value == kBackground ? Priority::Background : Priority::Foreground;
    o.kernel = kernel.name;
    o.checksum_impl = backend_name(choose_backend(o.checksum_impl));
    return o;
}


// A block's elements (for_each_piece's counts).
std::size_t block_elements(const Plan& plan, const Block& block) noexcept {
    std::size_t n = 0;
    for_each_piece(plan, block, [&n](char*, const char*, std::size_t count) noexcept { n += count; });
    return n;
}

} // namespace

Engine::Engine(const Options& options, std::shared_ptr<Topology> topology)
    : string_copy_below_(0), inline_below_(0), nt_from_(0), copy_fn_(nullptr), copy_nt_fn_(nullptr),
      strategy_(make_strategy(options, *topology)),
      memory_(make_memory_strategy(options)),
      kernel_(&choose_kernel(strategy_.kernel.name)),
      options_(resolved(options, strategy_, *kernel_)),
      generation_(fork_generation()),
      scheduler_(std::move(topology), options_) {
    inline_below_ = strategy_.inline_threshold.value;
    nt_from_ = strategy_.nontemporal_threshold.value;
    string_copy_below_ = std::min({strategy_.string_copy_threshold.value, inline_below_, nt_from_});
    copy_fn_ = kernel_->copy;
    copy_nt_fn_ = kernel_->copy_nt;
}

Engine::~Engine() {
    if (fork_generation() != generation_) scheduler_.abandon();
}

bool Engine::forked() const noexcept { return fork_generation() != generation_ || scheduler_.serial(); }

void Engine::run_planned(const Region* regions, std::size_t count, Conversion conversion,
                         std::atomic<std::uint64_t>* progress, PlanChecksums* sums) {
    const std::size_t des = dst_element_size(conversion);
    std::size_t dst_bytes = 0;
    for (std::size_t r = 0; r < count; ++r) dst_bytes += regions[r].count * des;
    const bool counted = !sums || sums->copies(); // a checksum alone is no copy
    // A checksummed conversion with non-temporal stores is staged through L1 (checksum_copy.hpp).
    const bool nt = nontemporal_for(strategy_, dst_bytes);
    const kernels::CopyFn fn = pick_kernel(*kernel_, conversion, nt);

    // A checksummed small copy, or any copy in a forked child: on the caller's thread.
    if (below_inline(strategy_, dst_bytes) || forked()) {
        if (sums)
            sums->run_inline(regions, count, conversion, fn);
        else
            copy_here(regions, count, fn);
        if (progress) progress->fetch_add(dst_bytes, std::memory_order_relaxed);
        if (counted) count_copy(kInlineCopies, dst_bytes, nt);
        return;
    }

    // An asynchronous copy runs under its limits; any other copy here is foreground work, which
    // background copies leave the threads to while it runs.
    CopyControl* const control = CopyControl::current();
    // A synchronous copy while the helpers are asleep (none lingering, no such copy within the
    // linger) runs here: waking one costs more than a copy this size would save. A copy within
    // the linger of the last goes to the helpers, so back-to-back copies wake them and keep them.
    if (!sums && !control) {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        const std::int64_t last = last_planned_ns_.exchange(now, std::memory_order_relaxed);
        const bool recent = now - last <= static_cast<std::int64_t>(strategy_.linger_us.value) * 1000;
        if (inline_while_idle(strategy_, dst_bytes, recent || scheduler_.helpers_lingering())) {
            copy_here(regions, count, fn);
            if (progress) progress->fetch_add(dst_bytes, std::memory_order_relaxed);
            if (counted) count_copy(kInlineCopies, dst_bytes, nt);
            return;
        }
    }

    advise_fresh_destinations(regions, count, des);
    const ForegroundCount::Scope foreground(control && control->background() ? nullptr : foreground_.get());
    const std::size_t threads = std::min(scheduler_.total_concurrency(), control ? control->threads() : kNever);
    const Decision d = decide(strategy_, dst_bytes, threads, false);
    Plan plan;
    // Without checksums, streamed blocks skip the kernel's fence: each thread fences once
    // before it publishes its blocks (docs/design.md, "The fence").
    const kernels::CopyFn block_fn = sums ? fn : pick_kernel(*kernel_, conversion, nt, /*fenced=*/false);
    try {
        plan = make_plan(regions, count, conversion, PlanOptions{options_.tile_bytes, d.block_bytes, d.tail_bytes, d.threads});
        plan.fence_after = nt && !sums;
        place_blocks(plan, scheduler_.topology(), options_.numa, options_.numa_node);
        if (sums) sums->prepare(plan);
    } catch (const std::bad_alloc&) {
        throw Error("tilecopy: out of memory planning a copy of " + std::to_string(dst_bytes) + " bytes in blocks of " +
                    std::to_string(d.block_bytes) + " bytes (Options::block_bytes)");
    }
    scheduler_.run(plan, [&plan, fn, block_fn, progress, des, sums, control](const Block& block) noexcept {
        if (control && !control->before_block(block_elements(plan, block) * des)) return;
        std::size_t done = 0;
        if (sums)
            done = sums->run_block(plan, block, fn);
        else
            for_each_piece(plan, block, [block_fn, &done](char* d, const char* s, std::size_t n) noexcept {
                block_fn(d, s, n);
                done += n;
            });
        if (progress) progress->fetch_add(done * des, std::memory_order_relaxed);
        if (control) control->after_block();
    }, control);
    if (sums) sums->finish(plan);
    if (counted) count_copy(kParallelCopies, dst_bytes, nt);
}

CopyHandle Engine::submit(std::function<void(AsyncState&)> work, std::uint64_t total_bytes,
                          std::shared_ptr<void> keep_alive, const AsyncOptions& limits) {
    const AsyncOptions& defaults = options_.async;
    const std::size_t threads = std::min(limits.threads ? limits.threads : defaults.threads, options_.threads);
    const std::uint64_t rate = limits.bytes_per_second ? limits.bytes_per_second : defaults.bytes_per_second;
    const bool background = (limits.priority != Priority::Default ? limits.priority : defaults.priority) ==
                            Priority::Background;
    auto state = std::make_shared<AsyncState>();
    // The bucket starts with (and holds at least) the largest block a plan makes, so that a block
    // never waits twice: blocks end on destination lines and a last block takes in a short tail
    // (lib/plan.cpp), so a block may reach 1.5 times block_bytes (and no two blocks fit).
    const std::uint64_t block = strategy_.block_bytes.value;
    state->control.configure(threads, rate, block + block / 2, background, foreground_);
    state->work = std::move(work);
    state->total = total_bytes;
    state->keep_alive = std::move(keep_alive);
    state->generation = fork_generation();
    // In a forked child there is no submitter thread; a tiny copy costs the caller less than
    // handing it over (strategy.hpp, kDefaultAsyncInlineBytes): both run now, on the caller's thread.
    if (forked() || total_bytes <= strategy_.async_inline_bytes.value)
        state->run();
    else
        executor_.submit(state, total_bytes < strategy_.async_small_bytes.value ? Lane::Small
                                : background                                        ? Lane::Background
                                                                                    : Lane::Bulk);
    return CopyHandle(std::move(state));
}

} // namespace tilecopy::detail
