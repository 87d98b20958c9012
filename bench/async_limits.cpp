// tilecopy-async-limits: the targets of staging a checkpoint in the background (docs/async.md,
// "Figures"). A foreground loop stands in for training: torch matmuls on all threads sized to
// take --step-ms a step, and separately a loop of synchronous --copy engine copies. Each runs
// alone, then beside a state_dict of a few hundred tensors (--snapshot bytes) staged with
// copy_batch_async into warm destinations: with threads=1; with no limit; with
// bytes_per_second=B for each of --rates. Then: how long a synchronous --probe copy takes
// while a staging runs against alone (its start's delay), and how long cancel() takes to return
// and the staging to stop. Each round takes every figure once, each foreground figure against
// the same loop alone just before it; the table gives medians over --rounds rounds.
//
//   tilecopy-async-limits [--snapshot 2G] [--rounds 5] [--rates 1,2,4,6,8,10] [--json F] [--svg F]
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>
#include <tilecopy/units.hpp>

#include "async_report.hpp"
#include "async_workloads.hpp"
#include "machine.hpp"
#include "measure.hpp"

namespace {

using namespace bench::async;
using bench::median;
using tilecopy::AsyncOptions;
using tilecopy::CopyHandle;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Args {
    std::string snapshot = "2G", copy = "64M", probe = "1M", rates = "1,2,4,6,8,10", only, json, svg;
    int rounds = 5, probes = 20, cancels = 3;
    std::size_t threads = 0;
    double step_ms = 50, min_seconds = 0.5, max_seconds = 0.5, cancel_after_ms = 30;
};

// The figures in the order printed; each round appends one value to each.
class Table {
public:
    Figure& add(std::string group, std::string name, std::string unit) {
        Figure f;
        f.group = std::move(group);
        f.name = std::move(name);
        f.unit = std::move(unit);
        figures_.push_back(std::move(f));
        return figures_.back();
    }
    // The figures taken (a group left out by --only has none).
    std::vector<Figure> figures() const {
        std::vector<Figure> out;
        for (const Figure& f : figures_)
            if (!f.rounds.empty()) out.push_back(f);
        return out;
    }

private:
    std::deque<Figure> figures_; // references stay valid as figures are added
};

// The foreground's slowdown beside a staging, against the same loop alone just before it (%).
double slowdown(const std::vector<double>& alone, const Beside& beside) {
    if (beside.steps_s.empty() || alone.empty()) return kNaN;
    return (median(beside.steps_s) / median(alone) - 1.0) * 100.0;
}

// The process's CPU time (user and system, all threads), in seconds.
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

std::string join_args(int argc, char** argv) {
    std::string s;
    for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
    return s;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-async-limits: a foreground loop beside a state_dict staged in the background"};
    Args a;
    app.add_option("--snapshot", a.snapshot, "Bytes of the state_dict staged (a size; 2 GiB by default, 4G as in "
                                             "the targets needs 8 GiB of memory)");
    app.add_option("--step-ms", a.step_ms, "The matmul step's time alone, to size it (ms)")->check(CLI::PositiveNumber);
    app.add_option("--copy", a.copy, "Each copy of the foreground copy loop (a size)");
    app.add_option("--rates", a.rates, "bytes_per_second limits to sweep (GB/s, 1 GB = 1e9 bytes, comma-separated)");
    app.add_option("--min-seconds", a.min_seconds, "How long the threads=1 stagings run at least (restaged, whole)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-seconds", a.max_seconds, "How long the no-limit and swept stagings run (restaged, then cancelled)")
        ->check(CLI::PositiveNumber);
    app.add_option("--probe", a.probe, "The synchronous copy timed beside a staging (a size)");
    app.add_option("--probes", a.probes, "Probe copies a round, alone and beside")->check(CLI::PositiveNumber);
    app.add_option("--cancels", a.cancels, "Cancels timed a round, for each setting")->check(CLI::PositiveNumber);
    app.add_option("--cancel-after-ms", a.cancel_after_ms, "How long a staging runs before it is cancelled (ms)")
        ->check(CLI::PositiveNumber);
    app.add_option("--threads", a.threads, "The engine's and torch's threads (0: all)");
    app.add_option("--rounds", a.rounds, "Rounds (default 5)")->check(CLI::PositiveNumber);
    app.add_option("--only", a.only, "Groups to measure besides 'alone' (comma-separated: threads=1, no-limit, rates, "
                                     "start, cancel; all by default)");
    app.add_option("--json", a.json, "Write every figure, round by round, as JSON");
    app.add_option("--svg", a.svg, "Plot the slowdown and achieved rate / B against B with gnuplot");
    CLI11_PARSE(app, argc, argv);
    std::size_t snapshot_bytes = 0, copy_bytes = 0, probe_bytes = 0;
    if (!tilecopy::parse_size(a.snapshot, snapshot_bytes) || !tilecopy::parse_size(a.copy, copy_bytes) ||
        !tilecopy::parse_size(a.probe, probe_bytes) || !snapshot_bytes || !copy_bytes || !probe_bytes) {
        std::fprintf(stderr, "tilecopy-async-limits: --snapshot, --copy and --probe take sizes (64M, 2G)\n");
        return 2;
    }
    std::vector<double> rates;
    {
        std::stringstream list(a.rates);
        for (std::string item; std::getline(list, item, ',');) {
            char* end = nullptr;
            const double gbs = std::strtod(item.c_str(), &end);
            if (end == item.c_str() || *end != '\0' || !(gbs > 0)) {
                std::fprintf(stderr, "tilecopy-async-limits: --rates: '%s' is not a number of GB/s\n", item.c_str());
                return 2;
            }
            rates.push_back(gbs);
        }
    }

    std::vector<std::string> groups;
    {
        const std::vector<std::string> known = {"threads=1", "no-limit", "rates", "start", "cancel"};
        std::stringstream list(a.only);
        for (std::string item; std::getline(list, item, ',');) {
            if (std::find(known.begin(), known.end(), item) == known.end()) {
                std::fprintf(stderr, "tilecopy-async-limits: --only: '%s' is none of threads=1, no-limit, rates, start, cancel\n",
                             item.c_str());
                return 2;
            }
            groups.push_back(item);
        }
    }
    auto measures = [&groups](const char* group) {
        return groups.empty() || std::find(groups.begin(), groups.end(), group) != groups.end();
    };

    RunInfo info;
    info.date = bench::utc_now();
    info.command_line = join_args(argc, argv);
    info.cpu_model = bench::cpu_model();
    info.load_start = bench::load_average();
    info.rounds = a.rounds;
    tilecopy::Options options;
    options.threads = a.threads;
    tilecopy::CopyEngine engine(options);
    info.engine_threads = engine.options().threads;
    info.block_bytes = engine.options().block_bytes;
    info.copy_bytes = copy_bytes;
    info.probe_bytes = probe_bytes;

    std::fprintf(stderr, "sizing the matmul, filling the state_dict ...\n");
    const Matmul matmul = make_matmul(static_cast<int>(info.engine_threads), a.step_ms / 1e3);
    info.matmul_n = matmul.n;
    info.matmul_step_ms = matmul.step_s * 1e3;
    const Step copy_step = make_copy_step(engine, copy_bytes);
    const double copy_step_s = median(run_alone(copy_step, 5));
    const StateDict state(snapshot_bytes);
    info.snapshot_bytes = state.bytes();
    info.snapshot_tensors = state.tensors();
    info.largest_tensor = state.largest();
    info.smallest_tensor = state.smallest();
    const int matmul_steps = std::clamp(static_cast<int>(0.3 / matmul.step_s), 3, 20);
    const int copy_steps = std::clamp(static_cast<int>(0.3 / copy_step_s), 3, 50);

    AsyncOptions one, unlimited, background;
    one.threads = 1;
    background.priority = tilecopy::Priority::Background;
    auto staging = [&](const AsyncOptions& limits) { return [&engine, &state, limits] { return state.stage(engine, limits); }; };
    {
        CopyHandle h = state.stage(engine, one);
        h.wait();
        if (!state.staged_equal()) {
            std::fprintf(stderr, "tilecopy-async-limits: FAILED: the staged state_dict differs from its source\n");
            return 1;
        }
    }

    const std::string mm = "matmul " + std::to_string(matmul.n) + "^2";
    const std::string cp = tilecopy::size_text(copy_bytes) + " copies";
    Table t;
    Figure& mm_alone = t.add("alone", mm + " step", "ms");
    Figure& cp_alone = t.add("alone", cp + " step", "ms");
    Figure& one_alone = t.add("alone", "staging, threads=1", "GB/s");
    Figure& one_cpu = t.add("alone", "staging, threads=1: CPU time / wall", "x");
    Figure& all_alone = t.add("alone", "staging, no limit", "GB/s");
    Figure& block_time = t.add("alone", "block time (" + tilecopy::size_text(info.block_bytes) + ", one thread)", "us");
    Figure& one_mm_slow = t.add("threads=1", mm + " slowdown", "%");
    Figure& one_mm_rate = t.add("threads=1", "staging beside the matmuls / alone", "x");
    Figure& one_cp_slow = t.add("threads=1", cp + " slowdown", "%");
    Figure& one_cp_rate = t.add("threads=1", "staging beside the copies / alone", "x");
    one_mm_slow.at_most = one_cp_slow.at_most = 60;
    one_mm_rate.at_least = one_cp_rate.at_least = 0.8;
    Figure& all_mm_slow = t.add("no limit", mm + " slowdown", "%");
    Figure& all_mm_rate = t.add("no limit", "staging beside the matmuls", "GB/s");
    Figure& all_cp_slow = t.add("no limit", cp + " slowdown", "%");
    Figure& all_cp_rate = t.add("no limit", "staging beside the copies", "GB/s");
    std::vector<SweepPoint> sweep;
    for (double b : rates) {
        char g[32];
        std::snprintf(g, sizeof g, "B=%g GB/s", b);
        SweepPoint p;
        p.limit_gbs = b;
        p.alone_ratio = &t.add(g, "achieved / B alone", "x");
        p.matmul_slowdown = &t.add(g, mm + " slowdown", "%");
        p.matmul_ratio = &t.add(g, "achieved / B beside the matmuls", "x");
        p.copy_slowdown = &t.add(g, cp + " slowdown", "%");
        p.copy_ratio = &t.add(g, "achieved / B beside the copies", "x");
        for (Figure* f : {p.matmul_ratio, p.copy_ratio}) f->at_least = 0.9, f->at_most = 1.1;
        sweep.push_back(p);
    }
    Figure* mm_shrink = nullptr;
    Figure* cp_shrink = nullptr;
    if (sweep.size() > 1) {
        char g[64];
        std::snprintf(g, sizeof g, "B=%g vs %g", rates.back(), rates.front());
        mm_shrink = &t.add(g, mm + " slowdown, difference", "pp");
        cp_shrink = &t.add(g, cp + " slowdown, difference", "pp");
        mm_shrink->at_least = cp_shrink->at_least = 0;
    }
    // The probe and cancel figures for each staging setting.
    struct Timed {
        std::string label;
        AsyncOptions limits;
        Figure *alone = nullptr, *beside = nullptr, *delay = nullptr, *returned = nullptr, *stopped = nullptr,
               *done = nullptr, *finished = nullptr, *blocks = nullptr, *waited = nullptr, *waited_blocks = nullptr;
    };
    std::vector<Timed> timed(2);
    timed[0].label = "threads=1", timed[0].limits = one;
    timed[1].label = "background", timed[1].limits = background;
    const std::string probe = tilecopy::size_text(probe_bytes) + " copy";
    for (Timed& x : timed) {
        const std::string g = "start, " + x.label;
        x.alone = &t.add(g, probe + " alone", "us");
        x.beside = &t.add(g, probe + " beside the staging", "us");
        x.delay = &t.add(g, probe + ": delay (beside - alone)", "us");
        x.delay->at_most = 1000;
    }
    for (Timed& x : timed) {
        const std::string g = "cancel, " + x.label;
        x.returned = &t.add(g, "cancel() returns", "us");
        x.stopped = &t.add(g, "bytes_copied() stops growing", "us");
        x.done = &t.add(g, "done() turns true", "us");
        x.finished = &t.add(g, "finished, by the handle's clock", "us");
        x.blocks = &t.add(g, "blocks copied after the call", "x");
        // The same cancel with the caller blocked in wait() rather than watching, as a trainer
        // that cancels and waits does: the copy's threads have both cores to end their blocks.
        // Its finish includes letting go of the batch's tensors (no target: the copy stopped
        // before).
        x.waited = &t.add(g, "cancel(), wait(): finished, by the handle's clock", "us");
        x.waited_blocks = &t.add(g, "cancel(), wait(): blocks copied after the call", "x");
        // One block a thread: those claimed when the cancel came (threads=1: one; else all).
        x.blocks->at_most = x.waited_blocks->at_most =
            static_cast<double>(x.limits.threads ? x.limits.threads : info.engine_threads);
    }

    auto beside = [&](const Step& step, int steps, const AsyncOptions& limits, double min_s, double max_s, Figure& slow) {
        const std::vector<double> alone = run_alone(step, steps);
        Beside b = run_beside(step, staging(limits), min_s, max_s);
        slow.rounds.push_back(slowdown(alone, b));
        return b;
    };
    auto per_us = [](const std::vector<double>& s) { return s.empty() ? kNaN : median(s) * 1e6; };
    for (int round = 0; round < a.rounds; ++round) {
        std::fprintf(stderr, "round %d of %d ...\n", round + 1, a.rounds);
        mm_alone.rounds.push_back(median(run_alone(matmul.step, matmul_steps)) * 1e3);
        cp_alone.rounds.push_back(median(run_alone(copy_step, copy_steps)) * 1e3);
        double one_rate = 0;
        {
            const double cpu0 = cpu_seconds();
            const auto t0 = Clock::now();
            CopyHandle h = state.stage(engine, one);
            h.wait();
            one_cpu.rounds.push_back((cpu_seconds() - cpu0) / seconds_since(t0));
            one_rate = h.bytes_per_second();
            CopyHandle g = state.stage(engine, unlimited);
            g.wait();
            all_alone.rounds.push_back(g.bytes_per_second() / 1e9);
        }
        one_alone.rounds.push_back(one_rate / 1e9);
        block_time.rounds.push_back(double(info.block_bytes) / one_rate * 1e6);
        const double forever = 1e9, lo = a.min_seconds, hi = a.max_seconds; // threads=1: whole stagings
        if (measures("threads=1")) {
            one_mm_rate.rounds.push_back(beside(matmul.step, matmul_steps, one, lo, forever, one_mm_slow).copy_bytes_per_second / one_rate);
            one_cp_rate.rounds.push_back(beside(copy_step, copy_steps, one, lo, forever, one_cp_slow).copy_bytes_per_second / one_rate);
        }
        if (measures("no-limit")) {
            all_mm_rate.rounds.push_back(beside(matmul.step, matmul_steps, unlimited, hi, hi, all_mm_slow).copy_bytes_per_second / 1e9);
            all_cp_rate.rounds.push_back(beside(copy_step, copy_steps, unlimited, hi, hi, all_cp_slow).copy_bytes_per_second / 1e9);
        }
        // The limits in turn, upwards in even rounds and downwards in odd ones.
        for (std::size_t k = 0; k < sweep.size() && measures("rates"); ++k) {
            SweepPoint& p = sweep[round % 2 ? sweep.size() - 1 - k : k];
            AsyncOptions limited;
            limited.bytes_per_second = static_cast<std::uint64_t>(p.limit_gbs * 1e9);
            const double limit = static_cast<double>(limited.bytes_per_second);
            p.alone_ratio->rounds.push_back(run_copy(staging(limited), a.max_seconds).copy_bytes_per_second / limit);
            p.matmul_ratio->rounds.push_back(
                beside(matmul.step, matmul_steps, limited, hi, hi, *p.matmul_slowdown).copy_bytes_per_second / limit);
            p.copy_ratio->rounds.push_back(
                beside(copy_step, copy_steps, limited, hi, hi, *p.copy_slowdown).copy_bytes_per_second / limit);
        }
        if (mm_shrink && measures("rates")) {
            mm_shrink->rounds.push_back(sweep.back().matmul_slowdown->rounds.back() - sweep.front().matmul_slowdown->rounds.back());
            cp_shrink->rounds.push_back(sweep.back().copy_slowdown->rounds.back() - sweep.front().copy_slowdown->rounds.back());
        }
        for (Timed& x : timed) {
            if (measures("start")) {
                const Probes p = time_probes(engine, probe_bytes, a.probes, 0.002, staging(x.limits));
                x.alone->rounds.push_back(per_us(p.alone_s));
                x.beside->rounds.push_back(per_us(p.busy_s));
                x.delay->rounds.push_back(x.beside->rounds.back() - x.alone->rounds.back());
            }
            if (!measures("cancel")) continue;
            std::vector<double> returned, stopped, done, finished, blocks;
            for (int c = 0; c < a.cancels; ++c) {
                const CancelTiming ct = time_cancel(staging(x.limits), a.cancel_after_ms / 1e3);
                if (std::isnan(ct.done_s)) continue;
                returned.push_back(ct.returned_s), stopped.push_back(ct.stopped_s), done.push_back(ct.done_s);
                finished.push_back(ct.finished_s);
                blocks.push_back(ct.bytes_after / static_cast<double>(info.block_bytes));
            }
            x.returned->rounds.push_back(per_us(returned));
            x.stopped->rounds.push_back(per_us(stopped));
            x.done->rounds.push_back(per_us(done));
            x.finished->rounds.push_back(per_us(finished));
            x.blocks->rounds.push_back(blocks.empty() ? kNaN : median(blocks));
            std::vector<double> waited, waited_blocks;
            for (int c = 0; c < a.cancels; ++c) {
                const CancelTiming ct = time_cancel(staging(x.limits), a.cancel_after_ms / 1e3, CancelWait::Block);
                if (std::isnan(ct.finished_s)) continue;
                waited.push_back(ct.finished_s);
                waited_blocks.push_back(ct.bytes_after / static_cast<double>(info.block_bytes));
            }
            x.waited->rounds.push_back(per_us(waited));
            x.waited_blocks->rounds.push_back(waited_blocks.empty() ? kNaN : median(waited_blocks));
        }
    }
    // A limit above what the staging reaches with none beside the same loop cannot be met here.
    for (SweepPoint& p : sweep)
        for (auto [ratio, cap] : {std::pair{p.matmul_ratio, &all_mm_rate}, std::pair{p.copy_ratio, &all_cp_rate}})
            if (p.limit_gbs > 0.9 * cap->median()) {
                char note[96];
                std::snprintf(note, sizeof note, "(B is above 0.9x the rate with no limit: %.1f GB/s)", cap->median());
                ratio->note = note;
            }
    // Cancelling must take at most one block's time (on one thread, measured in this run).
    for (Timed& x : timed) x.returned->at_most = x.stopped->at_most = block_time.median();
    info.load_end = bench::load_average();

    char line[256];
    info.header.push_back("tilecopy-async-limits " + info.date + ", " + info.cpu_model + ", " +
                          std::to_string(info.engine_threads) + " threads");
    std::snprintf(line, sizeof line, "load average (1 min): %.2f at the start, %.2f at the end", info.load_start,
                  info.load_end);
    info.header.push_back(line);
    std::snprintf(line, sizeof line, "state_dict: %s in %zu float32 tensors (%s to %s), staged into warm destinations",
                  bytes_text(double(info.snapshot_bytes)).c_str(), info.snapshot_tensors,
                  bytes_text(double(info.smallest_tensor)).c_str(), bytes_text(double(info.largest_tensor)).c_str());
    info.header.push_back(line);
    std::snprintf(line, sizeof line, "foreground: %s float32 matmul on %zu torch threads (%.1f ms when sized), or %s",
                  mm.c_str(), info.engine_threads, info.matmul_step_ms, cp.c_str());
    info.header.push_back(line);
    info.header.push_back("slowdown: median step beside a staging / median step alone just before it, - 1; rates: "
                          "bytes copied / CopyHandle::seconds(), GB = 1e9 bytes");
    std::snprintf(line, sizeof line,
                  "stagings back to back beside a loop: threads=1 whole ones for %.2f s at least; no limit and B=... "
                  "for %.2f s, the last cancelled; medians of %d rounds",
                  a.min_seconds, a.max_seconds, a.rounds);
    info.header.push_back(line);
    const std::vector<Figure> figures = t.figures();
    print_figures(stdout, info, figures);
    print_targets(stdout, figures);
    int status = 0;
    if (!a.json.empty()) {
        try {
            write_json(a.json, info, figures, sweep);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "tilecopy-async-limits: %s\n", e.what());
            status = 1;
        }
    }
    if (!a.svg.empty()) {
        const std::string why = write_svg(a.svg, info, sweep, &all_mm_slow, &all_cp_slow);
        if (!why.empty()) std::fprintf(stderr, "tilecopy-async-limits: no SVG written: %s\n", why.c_str());
    }
    return status;
}
