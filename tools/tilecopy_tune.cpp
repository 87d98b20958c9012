// tilecopy-tune: measures this machine with the engine's own threads and writes the machine
// profile every engine then reads (lib/profile.hpp). Three questions, each answered by copies
// interleaved round by round so that a noisy neighbour hurts both sides of a comparison alike
// (the benchmark's harness, bench/measure.hpp):
//   - regular against non-temporal stores, 1 MiB to 1 GiB: the non-temporal threshold;
//   - the caller alone against the arena, 16 KiB to 16 MiB, timed back to back (the helpers
//     awake: the inline threshold) and one copy after the helpers have left (asleep: the
//     threshold below which such a copy stays on the caller);
//   - the string copy against the vector kernel for inline copies, 1-64 KiB, back to back and
//     after idleness together: the string copy threshold;
//   - block sizes 64 KiB to 1 MiB on a parallel copy: the block size.
// Run time is bounded: sizes and rounds are fixed (--quick: a second or so, for tests).
// It reads no profile (the one it replaces may be broken) and measures with the default linger.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <cstdlib>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "measure.hpp"
#include "profile.hpp"
#include "strategy.hpp"

namespace {

using tilecopy::CopyEngine;
using tilecopy::Options;
using namespace tilecopy::detail;

constexpr std::size_t KiB = 1024, MiB = 1024 * 1024;

struct Buffers {
    std::unique_ptr<unsigned char[]> src, dst;
    std::size_t bytes = 0;
    explicit Buffers(std::size_t n) : src(new unsigned char[n]), dst(new unsigned char[n]), bytes(n) {
        // Touch every page: a first touch costs ~11 us a page here, far more than the copy.
        std::memset(src.get(), 1, n);
        std::memset(dst.get(), 2, n);
    }
};

// Medians of each variant's GB/s per size, with the benchmark's harness (bench/measure.hpp):
// one section per size, the variants interleaved in every round, each checked once.
// `idle_ms` >= 0: each round times one call after that long idle (bench::Timing::Cold), else
// back-to-back calls.
std::vector<std::vector<double>> measure(const std::vector<CopyEngine*>& variants, const std::vector<std::size_t>& sizes,
                                         Buffers& buffers, int rounds, double idle_ms = -1) {
    bench::TimingSettings timing;
    timing.rounds = rounds;
    // Each engine has its own helpers, which spin for Options::linger_us after its last copy:
    // let the previous variant's leave first, or they share the cores with this one's (on 2
    // vCPUs that made regular stores look 10x slower at 16 MiB).
    timing.pause_ms = double(kDefaultLingerUs) / 1e3 + 1.0;
    std::vector<std::vector<double>> out(variants.size());
    for (std::size_t size : sizes) {
        bench::Section section;
        section.name = size_text(size);
        section.size_bytes = section.src_bytes = section.dst_bytes = size;
        for (std::size_t v = 0; v < variants.size(); ++v) {
            bench::Variant variant;
            variant.method = "tilecopy";
            variant.label = "variant " + std::to_string(v);
            CopyEngine* engine = variants[v];
            variant.copy = [engine, &buffers, size] { engine->copy(buffers.dst.get(), buffers.src.get(), size); };
            variant.verify = [engine, &buffers, size]() -> std::string {
                std::memset(buffers.dst.get(), 2, size);
                engine->copy(buffers.dst.get(), buffers.src.get(), size);
                return std::memcmp(buffers.dst.get(), buffers.src.get(), size) == 0 ? "" : "copied wrong bytes";
            };
            if (idle_ms >= 0) {
                variant.timing = bench::Timing::Cold;
                variant.idle_ms = idle_ms;
            }
            section.variants.push_back(std::move(variant));
        }
        const bench::SectionResult result = bench::run_section(section, timing, [](const std::string&) {});
        for (std::size_t v = 0; v < variants.size(); ++v) {
            const bench::VariantResult& r = result.variants[v];
            if (!r.failure.empty())
                throw tilecopy::Error("variant " + std::to_string(v) + " of a " + section.name + " copy: " + r.failure);
            out[v].push_back(r.median_gbps);
        }
    }
    return out;
}

// The threshold from which to use `b` instead of `a`: the one that loses least, summed over
// the sizes measured (in log of the bandwidth ratio), so one noisy size cannot move it far,
// as a rule "b wins at every larger size" let it. `none` (never b) is a candidate too; on a
// tie the larger threshold wins.
// `timings`: one (a, b) pair of figures per size for each way of timing them (back to back,
// after idleness), all of which the threshold must serve: their losses add up.
using Figures = std::pair<std::vector<double>, std::vector<double>>;
std::size_t crossover(const std::vector<std::size_t>& sizes, const std::vector<Figures>& timings, std::size_t none) {
    auto loss_from = [&](std::size_t c) { // b from sizes[c] on; c == sizes.size(): never
        double loss = 0;
        for (const auto& [a, b] : timings)
            for (std::size_t i = 0; i < sizes.size(); ++i) {
                const double r = std::log(std::max(b[i], 1e-9) / std::max(a[i], 1e-9));
                loss += i < c ? std::max(0.0, r) : std::max(0.0, -r);
            }
        return loss;
    };
    std::size_t best = sizes.size();
    for (std::size_t c = sizes.size(); c-- > 0;)
        if (loss_from(c) < loss_from(best)) best = c;
    return best < sizes.size() ? sizes[best] : none;
}
std::size_t crossover(const std::vector<std::size_t>& sizes, const std::vector<double>& a, const std::vector<double>& b,
                      std::size_t none) {
    return crossover(sizes, {Figures{a, b}}, none);
}

std::vector<std::size_t> powers(std::size_t from, std::size_t to, std::size_t step) {
    std::vector<std::size_t> v;
    for (std::size_t s = from; s <= to; s *= step) v.push_back(s);
    return v;
}

bool write_text(const std::string& path, const std::string& text) {
    // Make the directory ($XDG_CACHE_HOME/tilecopy or ~/.cache/tilecopy) when it is missing.
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
        ::mkdir(path.substr(0, slash).c_str(), 0755);
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!(f << text)) return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Engines that force what they measure and ignore any profile and environment for it; the
// rest (threads) is as every engine here will have it. The linger is the default, whatever
// $TILECOPY_LINGER_US says: each variant waits out the previous one's linger (measure()), so a
// long one would only stretch the run, and the thresholds are for engines that linger as usual.
struct Forcer {
    Options base;
    Forcer() { base.linger_us = kDefaultLingerUs; }
    // The idle inline threshold is the inline one (helpers whenever the size says so), and
    // `string_below` the string copy threshold (1: never).
    std::unique_ptr<CopyEngine> operator()(std::size_t nt, std::size_t inline_below, std::size_t block,
                                           std::size_t string_below = 1) const {
        Options o = base;
        o.nontemporal_threshold = nt;
        o.inline_threshold = inline_below;
        o.idle_inline_threshold = inline_below;
        o.string_copy_threshold = string_below;
        o.block_bytes = block;
        return std::make_unique<CopyEngine>(o);
    }
};

struct Settings {
    bool quick = false;
    int rounds = 7;
    std::size_t largest = 0;
    std::size_t default_block = 0;
};

// 1. Regular against non-temporal stores, every core: the non-temporal threshold.
std::size_t nontemporal_threshold(const Forcer& forced, const Settings& set, Buffers& big, std::ostream& log) {
    const auto sizes = powers(MiB, set.largest, set.quick ? 4 : 2);
    auto regular = forced(kNever, 1, set.default_block);
    auto nontemporal = forced(1, 1, set.default_block);
    const auto nt = measure({regular.get(), nontemporal.get()}, sizes, big, set.rounds);
    log << "\nstores     size   regular  non-temporal  ratio\n";
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        char line[128];
        std::snprintf(line, sizeof line, "%16s %9.1f %13.1f %6.2f\n", size_text(sizes[i]).c_str(), nt[0][i], nt[1][i],
                      nt[1][i] / std::max(nt[0][i], 1e-9));
        log << line;
    }
    const std::size_t threshold = crossover(sizes, nt[0], nt[1], kNever);
    log << "-> nt_threshold " << (threshold == kNever ? std::string("never") : size_text(threshold)) << "\n";
    return threshold;
}

// A question's table: variants a and b per size, back to back and one copy after idleness.
void log_both(std::ostream& log, const char* question, const char* a, const char* b, double idle_ms,
              const std::vector<std::size_t>& sizes, const std::vector<std::vector<double>>& warm,
              const std::vector<std::vector<double>>& idle) {
    char line[200];
    std::snprintf(line, sizeof line, "\n%-7s %8s %12s %10s  ratio   (one copy after %.0f ms idle:) %12s %10s  ratio\n",
                  question, "size", a, b, idle_ms, a, b);
    log << line;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        std::snprintf(line, sizeof line, "%16s %12.1f %10.1f %6.2f %33.1f %10.1f %6.2f\n", size_text(sizes[i]).c_str(),
                      warm[0][i], warm[1][i], warm[1][i] / std::max(warm[0][i], 1e-9), idle[0][i], idle[1][i],
                      idle[1][i] / std::max(idle[0][i], 1e-9));
        log << line;
    }
}

// 2. The caller alone against the arena, back to back and after idleness: the inline threshold
// and the idle inline threshold (never below the first).
std::pair<std::size_t, std::size_t> inline_thresholds(const Forcer& forced, const Settings& set, std::size_t nt_threshold,
                                                      Buffers& big, std::ostream& log) {
    const auto sizes = powers(16 * KiB, std::min(set.largest, 16 * MiB), set.quick ? 4 : 2);
    auto alone = forced(nt_threshold, kNever, set.default_block);
    auto arena = forced(nt_threshold, 1, set.default_block);
    const auto warm = measure({alone.get(), arena.get()}, sizes, big, set.rounds);
    // Past the helpers' linger: they have left, and the arena's copy must wake them.
    const double idle_ms = double(kDefaultLingerUs) / 1e3 + 3.0;
    const auto idle = measure({alone.get(), arena.get()}, sizes, big, set.rounds, idle_ms);
    log_both(log, "inline", "one thread", "arena", idle_ms, sizes, warm, idle);
    const std::size_t threshold = crossover(sizes, warm[0], warm[1], sizes.back() * 2);
    const std::size_t idle_threshold = std::max(threshold, crossover(sizes, idle[0], idle[1], sizes.back() * 2));
    log << "-> inline_threshold " << size_text(threshold) << " (back to back), idle_inline_threshold "
        << size_text(idle_threshold) << " (after idleness)\n";
    return {threshold, idle_threshold};
}

// 2b. Inline copies by the string copy against the vector kernel, back to back and after
// idleness, one threshold for both: the string copy threshold.
std::size_t string_copy_threshold(const Forcer& forced, const Settings& set, Buffers& big, std::ostream& log) {
    const auto sizes = powers(KiB, 64 * KiB, set.quick ? 8 : 2);
    auto string = forced(kNever, kNever, set.default_block, kNever);
    auto kernel = forced(kNever, kNever, set.default_block, 1);
    const auto warm = measure({string.get(), kernel.get()}, sizes, big, set.rounds);
    const double idle_ms = set.quick ? 1.0 : 10.0;
    const auto idle = measure({string.get(), kernel.get()}, sizes, big, set.rounds * 3, idle_ms);
    log_both(log, "small", "string copy", "kernel", idle_ms, sizes, warm, idle);
    // The string copy below the threshold, the kernel from it on; 1 when the kernel wins throughout.
    const std::size_t threshold = crossover(sizes, {Figures{warm[0], warm[1]}, Figures{idle[0], idle[1]}}, kNever);
    const std::size_t chosen = threshold == sizes.front() ? 1 : threshold == kNever ? sizes.back() * 2 : threshold;
    log << "-> string_copy_threshold " << size_text(chosen) << "\n";
    return chosen;
}

// 3. Block sizes on a parallel copy of a size a trainer copies often: the block size.
std::size_t block_bytes(const Forcer& forced, const Settings& set, std::size_t nt_threshold, Buffers& big,
                        std::ostream& log) {
    const std::size_t copy = std::min(set.largest, set.quick ? 4 * MiB : 16 * MiB);
    std::vector<std::unique_ptr<CopyEngine>> by_block;
    std::vector<CopyEngine*> variants;
    const auto blocks = powers(64 * KiB, MiB, set.quick ? 4 : 2);
    for (std::size_t b : blocks) {
        by_block.push_back(forced(nt_threshold, 1, b));
        variants.push_back(by_block.back().get());
    }
    const auto bl = measure(variants, {copy}, big, set.rounds);
    log << "\nblocks at " << size_text(copy) << ":";
    std::size_t best = 0;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        char cell[64];
        std::snprintf(cell, sizeof cell, "  %s %.1f", size_text(blocks[i]).c_str(), bl[i][0]);
        log << cell;
        // Prefer the default unless another block size is clearly (3%) faster.
        if (bl[i][0] > bl[best][0] * 1.03 || (blocks[i] == set.default_block && bl[i][0] * 1.03 >= bl[best][0]))
            best = i;
    }
    log << "\n-> block_bytes " << size_text(blocks[best]) << "\n";
    return blocks[best];
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-tune: measure this machine and write the profile tilecopy's engines read"};
    bool quick = false, dry_run = false;
    std::string path;
    std::string max_size = "1G";
    int rounds = 0;
    app.add_flag("--quick", quick, "A bounded run of about a second (small sizes, 3 rounds): for tests");
    app.add_flag("--dry-run", dry_run, "Print what was measured; write nothing");
    app.add_option("--profile", path, "Where to write (default: $TILECOPY_PROFILE, else ~/.cache/tilecopy/profile)");
    app.add_option("--max-size", max_size, "Largest copy for the store-kind question (default 1G; needs 2x in memory)");
    app.add_option("--rounds", rounds, "Rounds per measurement (default 7; --quick 3)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "tilecopy-tune: " << e.what() << "\n";
        return 2;
    }
    try {
        std::size_t largest = 0;
        if (!parse_size(max_size, largest) || largest < MiB)
            throw tilecopy::Error("--max-size " + max_size + ": expected a size of at least 1M (e.g. 256M, 1G)");
        if (rounds <= 0) rounds = quick ? 3 : 7;
        if (quick) largest = std::min(largest, 16 * MiB);
        if (path.empty()) path = profile_path();
        if (path.empty() && !dry_run) throw tilecopy::Error("no --profile given and neither $TILECOPY_PROFILE nor $HOME is set");

        // The profile this run replaces may be corrupt or from another machine: no engine here
        // reads one (a path under /dev/null cannot exist), so every measurement starts from the
        // engine's own defaults and a broken profile cannot stop its repair.
        if (::setenv("TILECOPY_PROFILE", "/dev/null/tilecopy-tune", 1) != 0)
            throw tilecopy::Error("cannot set TILECOPY_PROFILE for the tuner's engines");
        const Forcer forced;
        auto probe = forced(kNever, 1, 0);
        const Strategy& st = tilecopy::detail::internals(*probe).strategy();
        Settings set;
        set.quick = quick;
        set.rounds = rounds;
        set.largest = largest;
        set.default_block = st.block_bytes.value;
        std::ostringstream log;
        log << "tilecopy-tune on '" << cpu_model() << "', " << machine_summary(st.facts) << "; "
            << tilecopy::detail::internals(*probe).scheduler().total_concurrency() << " threads, helpers linger "
            << st.linger_us.value << " us, " << rounds
            << " rounds, medians of GB/s (destination bytes), variants interleaved in every round\n";

        Buffers big(largest);
        const std::size_t nt = nontemporal_threshold(forced, set, big, log);
        const auto [inline_below, idle_inline_below] = inline_thresholds(forced, set, nt, big, log);
        const std::size_t string_below = string_copy_threshold(forced, set, big, log);
        const std::size_t block = block_bytes(forced, set, nt, big, log);

        Profile p;
        p.cpu = cpu_model();
        p.machine = machine_summary(st.facts);
        p.nt_threshold = nt;
        p.inline_threshold = inline_below;
        p.idle_inline_threshold = idle_inline_below;
        p.string_copy_threshold = string_below;
        p.block_bytes = block;
        std::cout << log.str();
        if (dry_run) {
            std::cout << "\n(dry run: nothing written)\n";
            return 0;
        }
        if (!write_text(path, format_profile(p, log.str())))
            throw tilecopy::Error("cannot write the profile to " + path);
        std::cout << "\nwrote " << path << "\n";
    } catch (const std::exception& e) {
        std::cerr << "tilecopy-tune: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
