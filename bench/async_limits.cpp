// tilecopy-async-limits: what a background copy costs the foreground, and what its limits give
// (docs/async.md). Each round: a foreground loop of synchronous copies alone; then the same loop
// while a large asynchronous copy runs under each setting (threads=1; bytes_per_second=B for
// each B; background priority). The loop runs while the background copy does (at most --copies
// copies), then the background copy is cancelled, which also times cancel() to wait() returning.
// Prints medians over the rounds: the foreground's rate and its ratio to alone, the background's
// achieved rate (CopyHandle::bytes_per_second) and, for a rate limit, its ratio to B; then the
// time a 1 MiB synchronous copy takes with a background copy running and without.
//
//   tilecopy-async-limits [--background 512M] [--foreground 64M] [--copies 32] [--rates 1G,2G,4G]
//                         [--rounds 5]
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>
#include <tilecopy/units.hpp>

#include "measure.hpp"

namespace {

using bench::median;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct Buffers {
    std::vector<unsigned char> src, dst;
    explicit Buffers(std::size_t n) : src(n, 1), dst(n, 2) {}
};

// Synchronous copies until `stop` says so or `copies` are done: destination GB/s.
template <typename Stop>
double foreground_loop(tilecopy::CopyEngine& engine, Buffers& fg, int copies, Stop&& stop) {
    const auto t0 = clock_type::now();
    int n = 0;
    while (n < copies && !stop()) {
        engine.copy(fg.dst.data(), fg.src.data(), fg.src.size());
        ++n;
    }
    const double s = seconds_since(t0);
    return n && s > 0 ? double(n) * fg.src.size() / s / 1e9 : 0;
}

struct Setting {
    std::string name;
    tilecopy::AsyncOptions limits;
    std::vector<double> fg_gbs, bg_gbs, cancel_us;
};

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-async-limits: foreground copies while a limited background copy runs"};
    std::string bg_text = "512M", fg_text = "64M", rates_text = "1G,2G,4G";
    int copies = 32, rounds = 5;
    app.add_option("--background", bg_text, "The background copy (a size)");
    app.add_option("--foreground", fg_text, "Each foreground copy (a size)");
    app.add_option("--copies", copies, "Foreground copies at most per measurement")->check(CLI::PositiveNumber);
    app.add_option("--rates", rates_text, "bytes_per_second limits to try (sizes a second, comma-separated)");
    app.add_option("--rounds", rounds, "Rounds (default 5)")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    std::size_t bg_bytes = 0, fg_bytes = 0;
    if (!tilecopy::parse_size(bg_text, bg_bytes) || !tilecopy::parse_size(fg_text, fg_bytes) || !bg_bytes || !fg_bytes) {
        std::fprintf(stderr, "tilecopy-async-limits: --background and --foreground take sizes (64M, 1G)\n");
        return 2;
    }
    std::vector<Setting> settings;
    {
        Setting one{"threads=1", {}, {}, {}, {}};
        one.limits.threads = 1;
        settings.push_back(one);
        std::stringstream list(rates_text);
        for (std::string item; std::getline(list, item, ',');) {
            std::size_t rate = 0;
            if (!tilecopy::parse_size(item, rate) || rate == 0) {
                std::fprintf(stderr, "tilecopy-async-limits: --rates: '%s' is not a size\n", item.c_str());
                return 2;
            }
            Setting s{"bytes_per_second=" + item, {}, {}, {}, {}};
            s.limits.bytes_per_second = rate;
            settings.push_back(s);
        }
        Setting bg{"priority=background", {}, {}, {}, {}};
        bg.limits.priority = tilecopy::Priority::Background;
        settings.push_back(bg);
    }

    tilecopy::CopyEngine engine;
    Buffers bg(bg_bytes), fg(fg_bytes), probe(std::size_t(1) << 20);
    engine.copy(bg.dst.data(), bg.src.data(), bg_bytes); // touch every page
    engine.copy(fg.dst.data(), fg.src.data(), fg_bytes);

    std::vector<double> alone_gbs, probe_alone_us, probe_busy_us;
    for (int round = 0; round < rounds; ++round) {
        alone_gbs.push_back(foreground_loop(engine, fg, copies, [] { return false; }));
        for (Setting& s : settings) {
            tilecopy::CopyHandle h = engine.copy_async(bg.dst.data(), bg.src.data(), bg_bytes, s.limits);
            s.fg_gbs.push_back(foreground_loop(engine, fg, copies, [&h] { return h.done(); }));
            const auto t0 = clock_type::now();
            h.cancel();
            try {
                h.wait();
            } catch (const tilecopy::Error&) {
                s.cancel_us.push_back(seconds_since(t0) * 1e6); // only copies that were still running
            }
            s.bg_gbs.push_back(h.bytes_per_second() / 1e9);
        }
        // A small synchronous copy alone, and while a background copy runs.
        for (bool busy : {false, true}) {
            tilecopy::AsyncOptions background;
            background.priority = tilecopy::Priority::Background;
            tilecopy::CopyHandle h;
            if (busy) h = engine.copy_async(bg.dst.data(), bg.src.data(), bg_bytes, background);
            const auto t0 = clock_type::now();
            engine.copy(probe.dst.data(), probe.src.data(), probe.src.size());
            (busy ? probe_busy_us : probe_alone_us).push_back(seconds_since(t0) * 1e6);
            h.cancel();
            try {
                h.wait();
            } catch (const tilecopy::Error&) {
            }
        }
    }

    const double alone = median(alone_gbs);
    std::printf("foreground: %s copies, alone %.2f GB/s (median of %d rounds)\n", fg_text.c_str(), alone, rounds);
    const std::string title = "background (" + bg_text + ")";
    std::printf("%-28s %14s %10s %14s %12s %14s\n", title.c_str(), "fg GB/s", "fg ratio",
                "bg GB/s", "bg / limit", "cancel us");
    for (const Setting& s : settings) {
        const double bg_rate = median(s.bg_gbs);
        const double limit = s.limits.bytes_per_second ? double(s.limits.bytes_per_second) / 1e9 : 0;
        std::printf("%-28s %14.2f %10.2f %14.2f %12s %14s\n", s.name.c_str(), median(s.fg_gbs),
                    alone > 0 ? median(s.fg_gbs) / alone : 0, bg_rate,
                    limit > 0 ? std::to_string(bg_rate / limit).substr(0, 5).c_str() : "-",
                    s.cancel_us.empty() ? "(finished)" : std::to_string(int(median(s.cancel_us))).c_str());
    }
    std::printf("1 MiB synchronous copy: %.1f us alone, %.1f us with a background copy running\n",
                median(probe_alone_us), median(probe_busy_us));
    return 0;
}
