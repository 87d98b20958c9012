#include "strategy.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <tilecopy/error.hpp>

#include "profile.hpp"

namespace tilecopy::detail {

namespace {

constexpr std::size_t kMaxThreads = 65536;
constexpr std::size_t kMaxLingerUs = 10'000'000; // 10 s: more is a typo, not a choice

// Parses one environment variable; null text: unset.
bool from_env(const char* text, const char* variable, const char* key, bool never_ok, std::size_t& out) {
    if (text == nullptr) return false;
    const std::string value = text;
    if (never_ok && value == "never") {
        out = kNever;
        return true;
    }
    const bool is_size =
        std::string(key) != "threads" && std::string(key) != "linger_us" && std::string(key) != "async_threads";
    std::size_t v = 0;
    bool ok = parse_size(value, v);
    // Counts take no unit suffix.
    if (ok && !is_size) ok = std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!ok)
        throw Error(std::string("tilecopy: $") + variable + "='" + value + "' is not " +
                    (is_size ? "a size (e.g. 4096, 256K, 64M, 1G" : "a count (a plain number") +
                    (never_ok ? ", or never)" : ")"));
    if (const char* why = out_of_range(key, v))
        throw Error(std::string("tilecopy: $") + variable + "='" + value + "' " + why);
    out = v;
    return true;
}

// Options field (non-zero), else environment, else profile, else fallback.
Tunable pick(std::size_t option, const char* option_name, const char* env_text, const char* variable, const char* key,
             bool never_ok, const std::optional<std::size_t>& profile_value, const Profile* profile,
             std::size_t fallback, std::string fallback_reason, bool option_set) {
    Tunable t;
    std::size_t v = 0;
    if (option_set) {
        t = {option, Origin::Option, std::string("Options::") + option_name};
    } else if (from_env(env_text, variable, key, never_ok, v)) {
        t = {v, Origin::Environment, std::string("$") + variable};
    } else if (profile && profile_value) {
        t = {*profile_value, Origin::Profile, profile->path};
    } else {
        t = {fallback, Origin::Fallback, std::move(fallback_reason)};
    }
    return t;
}

// Options::async over $TILECOPY_ASYNC_* over no limit, in the foreground. Each limit is capped to
// what the engine has (threads) or stands for none (kUnlimited, kAllThreads).
void resolve_async_defaults(const AsyncOptions& a, const Environment& env, Strategy& s) {
    const std::optional<std::size_t> none;
    const bool threads_set = a.threads != 0;
    s.async_threads = pick(a.threads, "async.threads", env.async_threads, "TILECOPY_ASYNC_THREADS", "async_threads",
                           false, none, nullptr, s.threads.value, "every thread of the engine", threads_set);
    s.async_threads.value = std::min(s.async_threads.value, s.threads.value);
    const bool rate_set = a.bytes_per_second != 0;
    s.async_bytes_per_second =
        pick(static_cast<std::size_t>(std::min<std::uint64_t>(a.bytes_per_second, kNever)), "async.bytes_per_second",
             env.async_bytes_per_second, "TILECOPY_ASYNC_BYTES_PER_SECOND", "async_bytes_per_second", false, none,
             nullptr, kNever, "unlimited", rate_set);
    if (a.priority != Priority::Default) {
        s.async_priority = {a.priority == Priority::Background ? kBackground : kForeground, Origin::Option,
                            "Options::async.priority"};
    } else if (env.async_priority) {
        const std::string text = env.async_priority;
        if (text != "foreground" && text != "background")
            throw Error("tilecopy: $TILECOPY_ASYNC_PRIORITY='" + text + "' is not foreground or background");
        s.async_priority = {text == "background" ? kBackground : kForeground, Origin::Environment,
                            "$TILECOPY_ASYNC_PRIORITY"};
    } else {
        s.async_priority = {kForeground, Origin::Fallback, "foreground"};
    }
}

} // namespace

const char* out_of_range(const std::string& k, std::size_t v) noexcept {
    if (k == "nt_threshold" || k == "inline_threshold" || k == "min_run_bytes" || k == "idle_inline_threshold" ||
        k == "string_copy_threshold")
        return v >= 1 ? nullptr : "must be at least 1";
    if (k == "async_inline_bytes" || k == "async_small_bytes") return nullptr;
    // Smaller blocks make a plan of one entry per block grow past 1% of the bytes it copies.
    static_assert(Options::kMinBlockBytes == 4096, "the message below names the minimum");
    if (k == "block_bytes") return v >= Options::kMinBlockBytes ? nullptr : "must be at least 4096 (4 KiB)";
    if (k == "threads" || k == "async_threads") return v >= 1 && v <= kMaxThreads ? nullptr : "must be 1 to 65536";
    if (k == "async_bytes_per_second") return v >= 1 ? nullptr : "must be at least 1";
    if (k == "linger_us") return v <= kMaxLingerUs ? nullptr : "must be at most 10000000 (10 s)";
    return "is not a tunable";
}

std::string origin_text(const Tunable& t) {
    switch (t.origin) {
    case Origin::Option: return "option " + t.source;
    case Origin::Environment: return "environment " + t.source;
    case Origin::Profile: return "profile " + t.source;
    case Origin::Fallback: return "fallback: " + t.source;
    }
    return "?";
}

Environment Environment::from_process() {
    auto get = [](const char* name) -> const char* {
        const char* v = std::getenv(name);
        return v && *v ? v : nullptr;
    };
    Environment e;
    e.nt_threshold = get("TILECOPY_NT_THRESHOLD");
    e.inline_threshold = get("TILECOPY_INLINE_THRESHOLD");
    e.idle_inline_threshold = get("TILECOPY_IDLE_INLINE_THRESHOLD");
    e.string_copy_threshold = get("TILECOPY_STRING_COPY_THRESHOLD");
    e.block_bytes = get("TILECOPY_BLOCK_BYTES");
    e.threads = get("TILECOPY_THREADS");
    e.linger_us = get("TILECOPY_LINGER_US");
    e.async_inline_bytes = get("TILECOPY_ASYNC_INLINE_BYTES");
    e.async_small_bytes = get("TILECOPY_ASYNC_SMALL_BYTES");
    e.min_run_bytes = get("TILECOPY_MIN_RUN_BYTES");
    e.kernel = get("TILECOPY_KERNEL");
    e.async_threads = get("TILECOPY_ASYNC_THREADS");
    e.async_bytes_per_second = get("TILECOPY_ASYNC_BYTES_PER_SECOND");
    e.async_priority = get("TILECOPY_ASYNC_PRIORITY");
    return e;
}

Strategy resolve_strategy(const Options& o, const Environment& env, const Profile* profile, const MachineFacts& facts) {
    if (o.tile_bytes < 64)
        throw Error("tilecopy: Options::tile_bytes must be at least 64 (got " + std::to_string(o.tile_bytes) + ")");
    if (o.block_bytes != 0 && o.block_bytes < Options::kMinBlockBytes)
        throw Error("tilecopy: Options::block_bytes must be 0 (default) or at least 4096 (got " +
                    std::to_string(o.block_bytes) + ")");
    if (o.linger_us != Options::kDefaultLinger && o.linger_us > kMaxLingerUs)
        throw Error("tilecopy: Options::linger_us must be at most 10000000 (10 s; got " + std::to_string(o.linger_us) + ")");

    Strategy s;
    s.tile_bytes = o.tile_bytes;
    s.facts = facts;
    const Profile* p = profile;
    const std::optional<std::size_t> none;

    // Threads: every processing unit this process may use, and never more (a profile measured
    // on the whole machine asks for more than a process pinned to fewer CPUs has).
    const std::size_t pus = std::max<std::size_t>(1, facts.pus);
    s.threads = pick(o.threads, "threads", env.threads, "TILECOPY_THREADS", "threads", false, p ? p->threads : none, p,
                     pus, "every processing unit (" + std::to_string(pus) + ")", o.threads != 0);
    if (s.threads.value > pus) {
        s.threads.source += " asked for " + std::to_string(s.threads.value) + ", capped to the " + std::to_string(pus) +
                            " CPU(s) this process may use";
        s.threads.value = pus;
    }

    // Inline below 256 KiB: handing work to another core costs 0.1-0.65 us on the hosts measured
    // (an arena entry more), and one core copies 64 KiB in ~1 us (README, "Tuning").
    s.inline_threshold = pick(o.inline_threshold, "inline_threshold", env.inline_threshold, "TILECOPY_INLINE_THRESHOLD",
                              "inline_threshold", false, p ? p->inline_threshold : none, p, kDefaultInlineThreshold,
                              "256 KiB, the hand-off cost measured on 2-core hosts", o.inline_threshold != 0);

    // While the helpers sleep: measured after idleness by tilecopy-tune, which times every
    // variant both back to back and after the helpers have left (docs/tuning.md).
    // An inline threshold given in Options or the environment means what it says: from it on,
    // copies use the helpers (tests force paths so), unless this threshold is given as well.
    const bool inline_given = s.inline_threshold.origin == Origin::Option || s.inline_threshold.origin == Origin::Environment;
    s.idle_inline_threshold =
        pick(o.idle_inline_threshold, "idle_inline_threshold", env.idle_inline_threshold,
             "TILECOPY_IDLE_INLINE_THRESHOLD", "idle_inline_threshold", false, p ? p->idle_inline_threshold : none,
             inline_given ? nullptr : p, inline_given ? s.inline_threshold.value : kDefaultIdleInlineThreshold,
             inline_given ? "the inline threshold given, no other inline path"
                          : "1 MiB, less than one core copies while a sleeping helper wakes",
             o.idle_inline_threshold != 0);
    if (s.idle_inline_threshold.value < s.inline_threshold.value) {
        s.idle_inline_threshold.value = s.inline_threshold.value;
        s.idle_inline_threshold.source += ", raised to the inline threshold";
    }

    // Non-temporal stores: from half the reported last-level cache on (a copy of N bytes keeps
    // 2N there, its source and its destination), trusted only within the band where every
    // measured host crossed over (README, "Tuning"): hosts of one kind report 8-508 MiB.
    std::size_t nt = kNtUnknownLlc;
    std::string nt_reason = "no last-level cache reported: assumed 32 MiB";
    if (facts.llc_bytes) {
        const std::size_t half = facts.llc_bytes / 2;
        nt = std::clamp(half, kNtFloor, kNtCeiling);
        nt_reason = "half the last-level cache " + size_text(facts.llc_bytes) +
                    (nt == half ? std::string(" (within 16-64 MiB)") : " clamped to 16-64 MiB");
    }
    s.nontemporal_threshold = pick(o.nontemporal_threshold, "nontemporal_threshold", env.nt_threshold,
                                   "TILECOPY_NT_THRESHOLD", "nt_threshold", true, p ? p->nt_threshold : none, p, nt,
                                   nt_reason, o.nontemporal_threshold != 0);

    // Blocks: a block's source and destination together fill half the L2, so the next block's
    // prefetched lines do not evict the current one's. Bounded, as L2 sizes are misreported too.
    std::size_t block = std::size_t(256) << 10;
    std::string block_reason = "no L2 reported: assumed 256 KiB";
    if (facts.l2_bytes) {
        block = std::clamp(facts.l2_bytes / 4, std::size_t(64) << 10, std::size_t(1) << 20);
        block_reason = "L2 " + size_text(facts.l2_bytes) + " / 4, within 64 KiB-1 MiB";
    }
    s.block_bytes = pick(o.block_bytes, "block_bytes", env.block_bytes, "TILECOPY_BLOCK_BYTES", "block_bytes", false,
                         p ? p->block_bytes : none, p, block, block_reason, o.block_bytes != 0);
    s.block_bytes.value = std::min(s.block_bytes.value, s.tile_bytes);

    // Helpers linger 2 ms: waking a sleeping vCPU costs 0.03-2 ms, and libgomp spins as long.
    s.linger_us = pick(o.linger_us, "linger_us", env.linger_us, "TILECOPY_LINGER_US", "linger_us", false,
                       p ? p->linger_us : none, p, kDefaultLingerUs, "2 ms, longer than waking a sleeping vCPU",
                       o.linger_us != Options::kDefaultLinger);

    s.async_inline_bytes = pick(o.async_inline_bytes, "async_inline_bytes", env.async_inline_bytes,
                                "TILECOPY_ASYNC_INLINE_BYTES", "async_inline_bytes", false, none, nullptr,
                                kDefaultAsyncInlineBytes, "16 KiB, less than handing a copy to a lane costs",
                                o.async_inline_bytes != 0);
    s.async_small_bytes = pick(o.async_small_bytes, "async_small_bytes", env.async_small_bytes,
                               "TILECOPY_ASYNC_SMALL_BYTES", "async_small_bytes", false, none, nullptr,
                               s.inline_threshold.value, "the inline threshold: such copies never use the arenas",
                               o.async_small_bytes != 0);
    s.min_run_bytes = pick(o.min_run_bytes, "min_run_bytes", env.min_run_bytes, "TILECOPY_MIN_RUN_BYTES",
                           "min_run_bytes", false, none, nullptr, kDefaultMinRunBytes,
                           "4 KiB, where tilecopy's runs overtook copy_'s loop on the 2-core Zen 5",
                           o.min_run_bytes != 0);

    resolve_async_defaults(o.async, env, s);
    // A forced kernel copies everything (the tests force each in turn), unless this says otherwise.
    const bool kernel_forced = !o.kernel.empty() || env.kernel;
    s.string_copy_threshold =
        pick(o.string_copy_threshold, "string_copy_threshold", env.string_copy_threshold,
             "TILECOPY_STRING_COPY_THRESHOLD", "string_copy_threshold", false,
             p ? p->string_copy_threshold : none, kernel_forced ? nullptr : p,
             kernel_forced ? 1 : kDefaultStringCopyThreshold,
             kernel_forced ? "none: a kernel is forced" : "32 KiB, where the kernels switch to it themselves",
             o.string_copy_threshold != 0);

    if (!o.kernel.empty())
        s.kernel = {o.kernel, Origin::Option, "Options::kernel"};
    else if (env.kernel)
        s.kernel = {env.kernel, Origin::Environment, "$TILECOPY_KERNEL"};
    else
        s.kernel = {"", Origin::Fallback, "best this CPU supports"};
    return s;
}

std::vector<NamedTunable> named_tunables(const Strategy& s) {
    return {{"threads", &s.threads, "TILECOPY_THREADS"},
            {"block_bytes", &s.block_bytes, "TILECOPY_BLOCK_BYTES"},
            {"inline_threshold", &s.inline_threshold, "TILECOPY_INLINE_THRESHOLD"},
            {"idle_inline_threshold", &s.idle_inline_threshold, "TILECOPY_IDLE_INLINE_THRESHOLD"},
            {"string_copy_threshold", &s.string_copy_threshold, "TILECOPY_STRING_COPY_THRESHOLD"},
            {"nontemporal_threshold", &s.nontemporal_threshold, "TILECOPY_NT_THRESHOLD"},
            {"linger_us", &s.linger_us, "TILECOPY_LINGER_US"},
            {"async_inline_bytes", &s.async_inline_bytes, "TILECOPY_ASYNC_INLINE_BYTES"},
            {"async_small_bytes", &s.async_small_bytes, "TILECOPY_ASYNC_SMALL_BYTES"},
            {"min_run_bytes", &s.min_run_bytes, "TILECOPY_MIN_RUN_BYTES"},
            {"async_threads", &s.async_threads, "TILECOPY_ASYNC_THREADS"},
            {"async_bytes_per_second", &s.async_bytes_per_second, "TILECOPY_ASYNC_BYTES_PER_SECOND"},
            {"async_priority", &s.async_priority, "TILECOPY_ASYNC_PRIORITY"}};
}

std::vector<std::string> describe_strategy(const Strategy& s) {
    std::vector<std::string> lines;
    lines.push_back("profile: " + s.profile_note);
    lines.push_back("tile: " + size_text(s.tile_bytes) + ", block: " + size_text(s.block_bytes.value) + " (" +
                    origin_text(s.block_bytes) + ")");
    lines.push_back("inline below: " + size_text(s.inline_threshold.value) + " (no tasks; " +
                    origin_text(s.inline_threshold) + ")");
    lines.push_back("inline while the helpers sleep, below: " + size_text(s.idle_inline_threshold.value) + " (" +
                    origin_text(s.idle_inline_threshold) + ")");
    lines.push_back("string copy (rep movsb) for inline copies below: " + size_text(s.string_copy_threshold.value) +
                    " (" + origin_text(s.string_copy_threshold) + ")");
    lines.push_back("copies in the caller (CopyEngine::copy inline, first copying thread) below: " +
                    size_text(std::min({s.string_copy_threshold.value, s.inline_threshold.value,
                                        s.nontemporal_threshold.value})) +
                    " (the least of the string copy, inline and non-temporal thresholds)");
    lines.push_back("helpers linger: " + std::to_string(s.linger_us.value) + " us after their last block (" +
                    origin_text(s.linger_us) + ")");
    lines.push_back((s.nontemporal_threshold.value == kNever
                         ? std::string("non-temporal stores: never")
                         : "non-temporal stores from: " + size_text(s.nontemporal_threshold.value)) +
                    " (" + origin_text(s.nontemporal_threshold) + ")");
    lines.push_back("async copies on the caller up to: " + size_text(s.async_inline_bytes.value) + " (" +
                    origin_text(s.async_inline_bytes) + ")");
    lines.push_back("async small lane below: " + size_text(s.async_small_bytes.value) + " (" +
                    origin_text(s.async_small_bytes) + ")");
    lines.push_back("tensor runs to copy_ below: " + size_text(s.min_run_bytes.value) + " (" +
                    origin_text(s.min_run_bytes) + ")");
    lines.push_back("async copies use at most: " + std::to_string(s.async_threads.value) + " thread(s) (" +
                    origin_text(s.async_threads) + "), " +
                    (s.async_bytes_per_second.value == kNever ? std::string("unlimited")
                                                              : size_text(s.async_bytes_per_second.value) + "/s") +
                    " (" + origin_text(s.async_bytes_per_second) + "), " +
                    (s.async_priority.value == kBackground ? "background" : "foreground") + " (" +
                    origin_text(s.async_priority) + ")");
    return lines;
}

Decision decide(const Strategy& s, std::size_t dst_bytes, std::size_t concurrency, bool serial) noexcept {
    Decision d;
    d.nontemporal = nontemporal_for(s, dst_bytes);
    d.parallel = !serial && !below_inline(s, dst_bytes);
    if (!d.parallel) return d;
    d.threads = std::max<std::size_t>(1, concurrency);
    std::size_t block = s.block_bytes.value;
    // A copy smaller than one block per thread is split evenly instead, so every core gets a
    // share (a 256 KiB copy as one 256 KiB block runs on one core: 0.92x the OpenMP copy).
    if (dst_bytes / d.threads < block)
        block = std::max(kMinBlockBytes, (dst_bytes / d.threads + 63) & ~std::size_t(63));
    d.block_bytes = block;
    // Where the threads meet, blocks shrink to this, so a slow helper (sharing its core, or
    // descheduled) holds little that the caller must wait for (plan.hpp). Only for copies of at
    // least 4 blocks per thread: below that each claim costs more than the tail saves (256 KiB
    // copies cut finer ran at 0.8x the even split, interleaved A/B on 2 vCPUs).
    if (dst_bytes / d.threads >= 4 * block) d.tail_bytes = std::min(block, kMinBlockBytes);
    return d;
}

} // namespace tilecopy::detail
