#include "memory_strategy.hpp"

#include <algorithm>
#include <sstream>

#include <tilecopy/error.hpp>

namespace tilecopy::detail {

namespace {

// Copies into never-touched destinations: advice on their interior by default where the kernel
// can grant it at once (docs/memory.md, "Copies into fresh destinations": advised 1 GiB copies
// ran many times faster on the hosts measured, and the free-block gate keeps them from waiting
// for compaction).
constexpr HugePages kFreshDefault = HugePages::Auto;

std::string mode_text(const ThpMode& m) {
    if (m.enabled.empty()) return "not available (no /sys/kernel/mm/transparent_hugepage)";
    return "enabled " + m.enabled + ", defrag " + (m.defrag.empty() ? std::string("unknown") : m.defrag);
}

std::string tunable_text(const HugePagesTunable& t) {
    return std::string(huge_pages_name(t.value)) + " (" + origin_text(Tunable{0, t.origin, t.source}) + ")";
}

} // namespace

std::string bracketed(const std::string& text) {
    const auto open = text.find('[');
    const auto close = text.find(']', open == std::string::npos ? 0 : open);
    if (open == std::string::npos || close == std::string::npos) return {};
    return text.substr(open + 1, close - open - 1);
}

std::size_t free_huge_bytes_of(const std::string& text, std::size_t page_bytes) {
    // "Node 0, zone   Normal  46190 37518 ... 24": free blocks of order 0, 1, 2, ...
    std::size_t order9 = 0;
    for (std::size_t p = page_bytes, o = 0; p < kHugePageBytes && o < 64; p *= 2, ++o) order9 = o + 1;
    std::istringstream lines(text);
    std::string line;
    std::size_t total = 0;
    while (std::getline(lines, line)) {
        const auto zone = line.find("zone");
        if (zone == std::string::npos) continue;
        std::istringstream words(line.substr(zone + 4));
        std::string name;
        words >> name;
        std::size_t count = 0;
        for (std::size_t order = 0; words >> count; ++order)
            if (order >= order9 && order < 64) total += count * (page_bytes << order);
    }
    return total;
}

bool advice_compacts(const ThpMode& m) noexcept {
    return m.defrag == "always" || m.defrag == "madvise" || m.defrag == "defer+madvise";
}

HugePagesTunable resolve_huge_pages(HugePages option, const char* option_name, const char* env_text,
                                    const char* variable, HugePages fallback, std::string fallback_reason) {
    if (option != HugePages::Default) return {option, Origin::Option, std::string("Options::") + option_name};
    if (env_text) {
        try {
            return {parse_huge_pages(env_text), Origin::Environment, std::string("$") + variable};
        } catch (const Error&) {
            throw Error(std::string("tilecopy: $") + variable + "='" + env_text + "': expected auto, always or never");
        }
    }
    return {fallback, Origin::Fallback, std::move(fallback_reason)};
}

MemoryStrategy resolve_memory_strategy(const Options& o, const ThpMode& thp, const char* env_huge_pages,
                                       const char* env_fresh, const char* env_clone_pool, std::size_t memory_bytes) {
    MemoryStrategy s;
    s.thp = thp;
    s.huge_pages = resolve_huge_pages(o.huge_pages, "huge_pages", env_huge_pages, "TILECOPY_HUGEPAGES",
                                      HugePages::Auto, "auto, advice only where the kernel grants it at once");
    s.fresh_destinations =
        resolve_huge_pages(o.fresh_destinations, "fresh_destinations", env_fresh, "TILECOPY_FRESH_HUGEPAGES",
                           kFreshDefault, "auto, measured faster into never-touched destinations (docs/memory.md)");
    if (o.clone_pool_bytes != Options::kDefaultClonePool) {
        s.clone_pool_bytes = {o.clone_pool_bytes, Origin::Option, "Options::clone_pool_bytes"};
    } else if (env_clone_pool) {
        std::size_t bytes = 0;
        if (!parse_size(env_clone_pool, bytes))
            throw Error(std::string("tilecopy: $TILECOPY_CLONE_POOL_BYTES='") + env_clone_pool +
                        "': expected a byte count such as 0, 512M or 4G");
        s.clone_pool_bytes = {bytes, Origin::Environment, "$TILECOPY_CLONE_POOL_BYTES"};
    } else {
        // Repeated clones of the same sizes (a checkpoint's staging) then reuse warm memory: no
        // fault, no zeroing (docs/memory.md, "The clone pool"); the kernel may take it back.
        s.clone_pool_bytes = {memory_bytes / 8, Origin::Fallback, "an eighth of the machine's memory"};
    }
    s.fresh_may_advise = s.fresh_destinations.value != HugePages::Never && !thp.enabled.empty() && thp.enabled != "never";
    return s;
}

HugePageDecision decide_huge_pages(HugePages policy, const ThpMode& thp, std::size_t interior,
                                   FreeHugeBytesFn free_huge_bytes) {
    HugePageDecision d;
    if (policy == HugePages::Never || policy == HugePages::Default) {
        d.reason = "policy never";
        return d;
    }
    if (thp.enabled.empty() || thp.enabled == "never") {
        d.reason = thp.enabled.empty() ? "the kernel has no transparent huge pages"
                                       : "the kernel's THP mode is never: it grants no huge pages";
        return d;
    }
    if (policy == HugePages::Always) {
        d.advise_bytes = interior;
        d.reason = "policy always";
        return d;
    }
    if (interior < kHugePageBytes) {
        d.reason = "no whole 2 MiB block";
        return d;
    }
    // Auto.
    if (thp.enabled == "always") {
        // Every fault already takes a free 2 MiB block when there is one; advice would only add
        // direct compaction (under defrag madvise) where there is none.
        d.reason = "THP always: the kernel uses huge pages unasked";
        return d;
    }
    if (!advice_compacts(thp)) {
        d.advise_bytes = interior;
        d.reason = "defrag " + thp.defrag + ": advice never waits for compaction";
        return d;
    }
    // Advice makes a fault compact memory when no free block is left: ask only for what is free
    // now, less an eighth for the other processes allocating meanwhile.
    const std::size_t free_bytes = free_huge_bytes ? free_huge_bytes() : 0;
    const std::size_t usable = (free_bytes - free_bytes / 8) / kHugePageBytes * kHugePageBytes;
    d.advise_bytes = std::min(interior, usable);
    d.reason = d.advise_bytes == interior ? "the kernel holds enough free 2 MiB blocks"
               : d.advise_bytes == 0      ? "no free 2 MiB block: advice would wait for compaction"
                                          : "advised as far as the kernel's free 2 MiB blocks go";
    return d;
}

std::size_t populate_block_bytes(std::size_t bytes, std::size_t threads) noexcept {
    const std::size_t share = bytes / (8 * std::max<std::size_t>(1, threads));
    return std::max(kHugePageBytes, share / kHugePageBytes * kHugePageBytes);
}

std::string huge_pages_plan(const MemoryStrategy& s) {
    const ThpMode& m = s.thp;
    if (m.enabled.empty() || m.enabled == "never")
        return "none: the kernel's THP mode is " + (m.enabled.empty() ? std::string("unavailable") : m.enabled) +
               ", so no buffer gets huge pages whatever the policy";
    switch (s.huge_pages.value) {
    case HugePages::Never: return "never advised";
    case HugePages::Always: return "every buffer's 2 MiB blocks advised (faults may wait for compaction)";
    default: break;
    }
    if (m.enabled == "always") return "not advised: THP always gives huge pages unasked where a free block exists";
    if (!advice_compacts(m)) return "buffers >= 2 MiB advised (defrag " + m.defrag + " never stalls a fault)";
    return "buffers >= 2 MiB advised as far as free 2 MiB blocks go (defrag " + m.defrag +
           " compacts advised regions directly)";
}

std::vector<std::string> describe_memory(const MemoryStrategy& s) {
    std::vector<std::string> lines;
    lines.push_back("transparent huge pages: " + mode_text(s.thp));
    lines.push_back("huge pages for allocate(): " + tunable_text(s.huge_pages) + ": " + huge_pages_plan(s));
    std::string fresh;
    const ThpMode& m = s.thp;
    if (s.fresh_destinations.value == HugePages::Never)
        fresh = "never advised";
    else if (m.enabled.empty() || m.enabled == "never")
        fresh = "none: the kernel grants no huge pages";
    else if (s.fresh_destinations.value == HugePages::Auto && m.enabled == "always")
        fresh = "not advised: THP always gives huge pages unasked";
    else
        fresh = std::string("the 2 MiB blocks of a copy destination (>= 4 MiB) that mincore shows never touched are "
                            "advised before the copy") +
                (s.fresh_destinations.value == HugePages::Auto && advice_compacts(m)
                     ? ", as far as free 2 MiB blocks go"
                     : "");
    lines.push_back("huge pages for fresh destinations: " + tunable_text(s.fresh_destinations) + ": " + fresh);
    const std::size_t pool = s.clone_pool_bytes.value;
    lines.push_back("clone pool: " + std::to_string(pool >> 20) + " MiB (" + origin_text(s.clone_pool_bytes) + "): " +
                    (pool ? "memory of dead clones is kept for clones of the same size and options"
                          : "none, the memory of dead clones is unmapped at once"));
    return lines;
}

} // namespace tilecopy::detail
