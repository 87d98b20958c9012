// The strategy: the one place that compares a request's size with thresholds. Pure: no
// threads, no hwloc, no environment reads (the caller passes the variables' text in).
//
// Every threshold is resolved once per engine, in this order (the first that says wins):
// Options field, environment variable, machine profile (profile.hpp), fallback derived from
// what the topology reports. Each keeps its origin so describe() can say where it came from.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <tilecopy/options.hpp>
#include <tilecopy/units.hpp>

namespace tilecopy::detail {

struct Profile;

enum class Origin { Option, Environment, Profile, Fallback };

// One resolved number and where it came from, e.g. {33554432, Fallback, "last-level cache 32 MiB"}.
struct Tunable {
    std::size_t value = 0;
    Origin origin = Origin::Fallback;
    std::string source; // "Options::threads", "$TILECOPY_THREADS", the profile's path, or the fallback's reason
};

// "option Options::threads", "environment $TILECOPY_THREADS", "profile /x/y", "fallback (...)".
std::string origin_text(const Tunable& t);

// What the topology reports, as the fallbacks and the profile's machine check see it.
struct MachineFacts {
    std::size_t l2_bytes = 0;  // per core; 0 when unknown
    std::size_t llc_bytes = 0; // one last-level cache; 0 when unknown
    std::size_t pus = 1;       // processing units this process may use
    std::size_t nodes = 1;     // NUMA nodes with such a unit
    // The whole machine's, whatever this process's CPU affinity: a profile is keyed to these, so
    // that a process pinned to fewer CPUs (a torchrun rank) uses the machine's profile.
    // 0: the same as pus / nodes.
    std::size_t machine_pus = 0;
    std::size_t machine_nodes = 0;
};

// The text of the tunables' environment variables; null where unset. Kept apart from getenv so
// the strategy stays testable without touching the process environment.
struct Environment {
    const char* nt_threshold = nullptr;     // TILECOPY_NT_THRESHOLD: a size (64M) or "never"
    const char* inline_threshold = nullptr; // TILECOPY_INLINE_THRESHOLD
    const char* idle_inline_threshold = nullptr; // TILECOPY_IDLE_INLINE_THRESHOLD
    const char* string_copy_threshold = nullptr; // TILECOPY_STRING_COPY_THRESHOLD
    const char* block_bytes = nullptr;      // TILECOPY_BLOCK_BYTES
    const char* threads = nullptr;          // TILECOPY_THREADS
    const char* linger_us = nullptr;        // TILECOPY_LINGER_US
    const char* async_inline_bytes = nullptr; // TILECOPY_ASYNC_INLINE_BYTES
    const char* async_small_bytes = nullptr;  // TILECOPY_ASYNC_SMALL_BYTES
    const char* min_run_bytes = nullptr;      // TILECOPY_MIN_RUN_BYTES
    const char* kernel = nullptr;             // TILECOPY_KERNEL
    const char* async_threads = nullptr;          // TILECOPY_ASYNC_THREADS
    const char* async_bytes_per_second = nullptr; // TILECOPY_ASYNC_BYTES_PER_SECOND: a size (2G)
    const char* async_priority = nullptr;         // TILECOPY_ASYNC_PRIORITY: foreground or background

    static Environment from_process();
};

using tilecopy::parse_size; // <tilecopy/units.hpp>
// Why a value from the environment or a profile is out of range for the tunable `key`
// ("nt_threshold", "inline_threshold", "idle_inline_threshold", "string_copy_threshold",
// "block_bytes", "threads", "linger_us", "async_inline_bytes", "async_small_bytes",
// "min_run_bytes"), e.g. "must be at least 4096"; null
// when it is in range.
const char* out_of_range(const std::string& key, std::size_t value) noexcept;
using tilecopy::size_text;

constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();
// Strategy::async_priority's values.
constexpr std::size_t kForeground = 0;
constexpr std::size_t kBackground = 1;

// The fallbacks' bounds (README, "Tuning"): on every host measured the crossover from regular to
// non-temporal stores lay in 16-64 MiB, while hosts of one kind report 8 MiB to 508 MiB of L3.
constexpr std::size_t kNtFloor = std::size_t(16) << 20;
constexpr std::size_t kNtCeiling = std::size_t(64) << 20;
constexpr std::size_t kNtUnknownLlc = std::size_t(32) << 20;
constexpr std::size_t kDefaultInlineThreshold = std::size_t(256) << 10;
constexpr std::size_t kDefaultLingerUs = 2000;
// Below this, a copy while the helpers sleep runs on the caller: one core copies 1 MiB in
// ~25-40 us, while waking a sleeping helper vCPU takes 30 us to 2 ms (docs/tuning.md).
constexpr std::size_t kDefaultIdleInlineThreshold = std::size_t(1) << 20;
// Below this, inline copies use the string copy: after 5-30 ms idle, `rep movsb` copied 1-64 KiB
// 0.6-0.7 us faster than the AVX-512 kernel on the 2-vCPU Zen 5 (cold page walks and lines), and
// the kernels themselves switch to it from 32 KiB (kernel_common.hpp).
constexpr std::size_t kDefaultStringCopyThreshold = std::size_t(32) << 10;
constexpr std::size_t kMinBlockBytes = std::size_t(16) << 10;
// Asynchronous copies of at most this many bytes run at once on the submitting thread: handing
// one to a lane costs ~8-13 us of wake-ups here (tilecopy-async-lanes, an idle engine), and
// while a large copy runs those wake-ups preempt its threads (4 KiB copies every 0.5 ms cost a
// 512 MiB copy 9-14% of its bandwidth on two vCPUs); copying 16 KiB takes well under 1 us.
constexpr std::size_t kDefaultAsyncInlineBytes = std::size_t(16) << 10;
// Tensor runs shorter than this go to torch's copy_ (lib/torch/run_layout.hpp has the
// measurement).
constexpr std::size_t kDefaultMinRunBytes = 4096;

// The kernel asked for: a name, or empty for the best this CPU supports (dispatch.hpp chooses).
struct KernelRequest {
    std::string name;
    Origin origin = Origin::Fallback;
    std::string source;
};

struct Strategy {
    Tunable threads;               // in all, the caller's included
    Tunable inline_threshold;      // copies of fewer destination bytes run on the caller alone
    Tunable idle_inline_threshold; // ... and, while the helpers sleep, copies of fewer than this
    Tunable string_copy_threshold; // inline copies of fewer bytes: the string copy, not the kernel
    Tunable nontemporal_threshold; // from this many destination bytes on: non-temporal stores (kNever: never)
    Tunable block_bytes;           // a thread's unit of work
    Tunable linger_us;             // helpers' spin after their last block
    Tunable async_inline_bytes;    // asynchronous copies of at most this many bytes run on the caller
    Tunable async_small_bytes;     // asynchronous copies of fewer bytes take the small lane
    Tunable min_run_bytes;         // tensor runs shorter than this go to torch's copy_
    // Asynchronous copies' defaults (Options::async): threads (at most `threads`), destination
    // bytes per second (kNever: unlimited), priority (kBackground or kForeground).
    Tunable async_threads;
    Tunable async_bytes_per_second;
    Tunable async_priority;
    KernelRequest kernel;
    std::size_t tile_bytes = std::size_t(1) << 30;
    std::string profile_note;      // "profile PATH used", "... ignored: measured on ...", "no profile at PATH"
    MachineFacts facts;            // what they were derived from (a profile must match it)
};

// The tunables by name, as info() lists them (name, the tunable, its environment variable).
struct NamedTunable {
    const char* name;
    const Tunable* tunable;
    const char* variable;
};
std::vector<NamedTunable> named_tunables(const Strategy& strategy);

// Resolves Options over the environment over the profile (null: none, or one for another
// machine) over the fallbacks. Throws tilecopy::Error naming the option or variable at fault.
Strategy resolve_strategy(const Options& options, const Environment& env, const Profile* profile,
                          const MachineFacts& facts);

// describe()'s lines for the thresholds, each with its origin, and the profile's note.
std::vector<std::string> describe_strategy(const Strategy& strategy);

// What one request gets.
struct Decision {
    bool parallel = false;        // false: on the caller's thread, no task
    bool nontemporal = false;
    std::size_t threads = 1;      // threads that may share it
    std::size_t block_bytes = 0;  // the plan's block size (its largest blocks)
    std::size_t tail_bytes = 0;   // the plan's smallest blocks, where the threads meet (plan.hpp)
};

// decide()'s two comparisons, inline: the engine's one entry tests below_inline first, and
// small copies need nothing else.
inline bool below_inline(const Strategy& s, std::size_t dst_bytes) noexcept {
    return dst_bytes < s.inline_threshold.value;
}
// Past below_inline: whether a copy runs on the caller anyway, because the helpers are asleep
// (`helpers_awake`: none lingering, and no copy of inline_threshold or more within linger_us).
inline bool inline_while_idle(const Strategy& s, std::size_t dst_bytes, bool helpers_awake) noexcept {
    return !helpers_awake && dst_bytes < s.idle_inline_threshold.value;
}
inline bool nontemporal_for(const Strategy& s, std::size_t dst_bytes) noexcept {
    return dst_bytes >= s.nontemporal_threshold.value;
}

// `concurrency`: threads the scheduler has (the caller's included); `serial`: no helper may be
// used (a forked child), so every copy runs inline.
Decision decide(const Strategy& strategy, std::size_t dst_bytes, std::size_t concurrency, bool serial) noexcept;

} // namespace tilecopy::detail
