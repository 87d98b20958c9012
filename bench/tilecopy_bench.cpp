// tilecopy-bench: tilecopy against memcpy, torch's copy_ and a DeepSpeed-style OpenMP copy,
// interleaved round by round on the same buffers. See README ("Benchmark").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>
#include <tilecopy/units.hpp>

#include "baselines.hpp"
#include "machine.hpp"
#include "report.hpp"
#include "checksum_sections.hpp"
#include "memory_sections.hpp"
#include "sections.hpp"
#include "snapshot_sections.hpp"

namespace {

using bench::Context;
using bench::Section;
using bench::SectionResult;

constexpr std::size_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;
// At and above this size a round takes long enough that fewer rounds keep the run short.
constexpr std::size_t kLargeSize = 256 * MiB;

// A size on the command line: <tilecopy/units.hpp>'s grammar (4K, 64KiB, 1M, 1G, 4096), not zero.
std::size_t parse_size(const std::string& text) {
    std::size_t value = 0;
    if (!tilecopy::parse_size(text, value))
        throw std::invalid_argument("not a size: '" + text + "' (try 4K, 64K, 1M, 1G: binary units)");
    if (value == 0)
        throw std::invalid_argument("size '" + text + "' is zero");
    return value;
}

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            out.push_back(item);
    return out;
}

const char* const kAllMethods = "memcpy,torch,omp,tilecopy,tilecopy-tensor,tilecopy-batch,tilecopy-async";

bench::Methods parse_methods(const std::string& text) {
    bench::Methods m;
    for (const std::string& name : split_commas(text)) {
        if (name == "memcpy")
            m.memcpy = true;
        else if (name == "torch")
            m.torch = true;
        else if (name == "omp")
            m.omp = true;
        else if (name == "tilecopy")
            m.tilecopy = true;
        else if (name == "tilecopy-tensor")
            m.tilecopy_tensor = true;
        else if (name == "tilecopy-batch")
            m.tilecopy_batch = true;
        else if (name == "tilecopy-async")
            m.tilecopy_async = true;
        else
            throw std::invalid_argument("unknown method '" + name + "' (methods: " + kAllMethods + ")");
    }
    return m;
}

std::string join_arguments(int argc, char** argv) {
    std::string out;
    for (int i = 0; i < argc; ++i)
        out += (i ? " " : "") + std::string(argv[i]);
    return out;
}

// One line on stderr, rewritten in place on a terminal; elsewhere (meson's logs) one line per
// section, so that logs stay short.
class ProgressLine {
public:
    ProgressLine() : tty_(::isatty(2) == 1) {}
    void show(const std::string& text) {
        if (tty_) {
            std::fprintf(stderr, "\r\033[K%s", text.c_str());
            std::fflush(stderr);
        }
    }
    void section(const std::string& text) {
        if (tty_)
            show(text);
        else
            std::fprintf(stderr, "%s\n", text.c_str());
    }
    // Before printing to stdout, so that the table is not mixed with the progress line.
    void clear() {
        if (tty_)
            std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }

private:
    bool tty_;
};

struct Arguments {
    std::string sizes = "4K,64K,256K,1M,4M,16M,64M,256M,1G";
    std::string methods = kAllMethods;
    int rounds = 0; // 0: the defaults below
    double pause_ms = 25.0;
    double warmup_ms = 10.0;
    double min_sample_us = 500.0;
    double cold_idle_ms = 10.0;
    std::string json_path;
    std::string svg_path;
    bool quick = false;
    bool no_extra = false;
    std::string only; // comma-separated words: run only the sections whose name holds one
    std::size_t threads = 0;
    std::string block_bytes, inline_threshold, nt_threshold, kernel;
    std::string tensor_dtype = "float32";
};

void add_options(CLI::App& app, Arguments& a) {
    app.add_option("--sizes", a.sizes, "Copy sizes, comma-separated, binary units (4K,64K,1M,1G)");
    app.add_option("--rounds", a.rounds, "Rounds per size (default 11; 5 at 256 MiB and above; --quick: 5)")
        ->check(CLI::Range(1, 1000));
    app.add_option("--methods", a.methods, std::string("Methods: ") + kAllMethods);
    app.add_option("--pause-ms", a.pause_ms, "Idle pause before each timed sample, letting workers stop spinning")
        ->check(CLI::Range(0.0, 1000.0));
    app.add_option("--warmup-ms", a.warmup_ms, "Untimed calls for this long after the pause, so methods are timed warm")
        ->check(CLI::Range(0.0, 1000.0));
    app.add_option("--min-sample-us", a.min_sample_us, "Repeat small copies until a sample lasts this long")
        ->check(CLI::Range(1.0, 1e6));
    app.add_option("--cold-idle-ms", a.cold_idle_ms, "Idle time before each cold copy")
        ->check(CLI::Range(0.0, 10000.0));
    app.add_option("--json", a.json_path, "Write every figure and the machine description as JSON");
    app.add_option("--svg", a.svg_path, "Plot GB/s against size with gnuplot");
    app.add_flag("--quick", a.quick, "A short run (meson's benchmark()): sizes 4K,64K,1M,16M,64M, 5 rounds");
    app.add_flag("--no-extra", a.no_extra, "Skip the conversion, misaligned, 4K-aliased, cold, batch and async rows");
    app.add_option("--only", a.only, "Run only the sections whose name contains one of these comma-separated words "
                                     "(e.g. crc,checksum)");
    app.add_option("--threads", a.threads, "Threads for tilecopy's engine, torch and OpenMP (default: every core)");
    app.add_option("--block-bytes", a.block_bytes, "tilecopy::Options::block_bytes (e.g. 256K)");
    app.add_option("--inline-threshold", a.inline_threshold, "tilecopy::Options::inline_threshold (e.g. 64K)");
    app.add_option("--nt-threshold", a.nt_threshold, "tilecopy::Options::nontemporal_threshold (16M, or never)");
    app.add_option("--kernel", a.kernel, "Force tilecopy's kernel: scalar, avx2 or avx512");
    app.add_option("--tensor-dtype", a.tensor_dtype, "dtype of the tensor rows over the byte buffers")
        ->check(CLI::IsMember({"float32", "uint8"}));
}

// Throws std::invalid_argument naming the bad value.
tilecopy::Options engine_options(const Arguments& a) {
    tilecopy::Options options;
    options.threads = a.threads;
    options.kernel = a.kernel;
    if (!a.block_bytes.empty())
        options.block_bytes = parse_size(a.block_bytes);
    if (!a.inline_threshold.empty())
        options.inline_threshold = parse_size(a.inline_threshold);
    if (!a.nt_threshold.empty())
        options.nontemporal_threshold =
            a.nt_threshold == "never" ? std::numeric_limits<std::size_t>::max() : parse_size(a.nt_threshold);
    return options;
}

// A section to build when its turn comes: each is built, timed and freed before the next, so
// at most one size's buffers are resident (2 GiB and a little for the 1 GiB rows).
struct PlannedSection {
    std::string name;
    std::function<Section()> build;
};

std::vector<PlannedSection> plan_sections(const Arguments& a, const std::vector<std::size_t>& sizes,
                                          const Context& ctx) {
    std::vector<PlannedSection> plan;
    const Context* c = &ctx;
    for (std::size_t bytes : sizes)
        plan.push_back({tilecopy::size_text(bytes) + " copy", [bytes, c] { return bench::copy_section(bytes, *c); }});
    if (a.no_extra)
        return plan;
    const bench::Methods& m = ctx.methods;
    const std::size_t convert_bytes = a.quick ? 32 * MiB : 256 * MiB;
    // In L2, and far beyond the last-level cache.
    const std::vector<std::size_t> offset_sizes = {256 * KiB, a.quick ? 16 * MiB : 64 * MiB};
    const std::size_t cold_bytes = a.quick ? 16 * MiB : 64 * MiB;
    if (m.torch || m.tilecopy_tensor) {
        for (auto direction : {bench::ConversionDirection::F32ToBF16, bench::ConversionDirection::BF16ToF32})
            plan.push_back({direction == bench::ConversionDirection::F32ToBF16 ? "f32->bf16" : "bf16->f32",
                            [direction, convert_bytes, c] {
                                return bench::conversion_section(direction, convert_bytes, *c);
                            }});
    }
    if (m.tilecopy) {
        for (std::size_t bytes : offset_sizes) {
            plan.push_back({tilecopy::size_text(bytes) + " misaligned",
                            [bytes, c] { return bench::misaligned_section(bytes, 1, 3, *c); }});
            plan.push_back({tilecopy::size_text(bytes) + " 4k-aliased",
                            [bytes, c] { return bench::aliased_section(bytes, *c); }});
        }
    }
    if (m.tilecopy || m.omp)
        plan.push_back({tilecopy::size_text(cold_bytes) + " cold",
                        [cold_bytes, c] { return bench::cold_section(cold_bytes, *c); }});
    // Copies one at a time, as a trainer issues them (each condition's target: docs/benchmarks.md,
    // "Targets"), and into fresh pages.
    if (m.tilecopy) {
        std::vector<std::pair<std::size_t, std::function<std::vector<bench::Condition>()>>> isolated;
        isolated.push_back({4 * KiB, [] {
                                return std::vector<bench::Condition>{bench::idle_condition(5, 0.9),
                                                                     bench::idle_condition(30, 0.9),
                                                                     bench::torch_op_condition(0.9)};
                            }});
        for (std::size_t bytes : a.quick ? std::vector<std::size_t>{MiB, 16 * MiB}
                                         : std::vector<std::size_t>{MiB, 4 * MiB, 16 * MiB})
            isolated.push_back({bytes, [] {
                                    return std::vector<bench::Condition>{bench::stream_condition(0, 0.95),
                                                                         bench::stream_condition(1, 0.95),
                                                                         bench::idle_condition(30, 0)};
                                }});
        isolated.push_back({64 * MiB, [] { return std::vector<bench::Condition>{bench::idle_condition(30, 0.95)}; }});
        for (const auto& [bytes, conditions] : isolated)
            plan.push_back({tilecopy::size_text(bytes) + " isolated",
                            [bytes = bytes, conditions = conditions, c] {
                                return bench::isolated_section(bytes, *c, conditions());
                            }});
        for (std::size_t bytes : {MiB, a.quick ? 16 * MiB : 64 * MiB})
            plan.push_back({tilecopy::size_text(bytes) + " fresh pages",
                            [bytes, c] { return bench::fresh_pages_section(bytes, *c); }});
    }
    // Fresh memory (docs/memory.md): prefault, copies into never-touched pages, out of a mapped file.
    if (m.tilecopy) {
        const std::size_t big = a.quick ? 64 * MiB : GiB;
        plan.push_back({tilecopy::size_text(big) + " prefault", [big, c] { return bench::prefault_section(big, *c); }});
        for (std::size_t bytes : a.quick ? std::vector<std::size_t>{16 * MiB} : std::vector<std::size_t>{64 * MiB, GiB})
            plan.push_back({tilecopy::size_text(bytes) + " fresh copy",
                            [bytes, c] { return bench::fresh_copy_section(bytes, *c); }});
        plan.push_back({tilecopy::size_text(big) + " mapped file", [big, c] { return bench::mapped_file_section(big, *c); }});
    }
    // Issue 6: many tensors in one call (10,000 x 64 KiB = 655 MB; 100 x 8 MiB), one in the background.
    if (m.tilecopy_batch)
        for (auto [pairs, each] : {std::pair<std::size_t, std::size_t>{a.quick ? 1000 : 10000, 64 * KiB},
                                   std::pair<std::size_t, std::size_t>{a.quick ? 10 : 100, 8 * MiB}})
            plan.push_back({std::to_string(pairs) + " x " + tilecopy::size_text(each) + " batch",
                            [pairs = pairs, each = each, c] { return bench::batch_section(pairs, each, *c); }});
    // Issue 21: copy and checksum in one pass, and a buffer's checksum, against the copy.
    if (m.tilecopy) {
        for (std::size_t bytes : a.quick ? std::vector<std::size_t>{MiB, 64 * MiB}
                                         : std::vector<std::size_t>{MiB, 16 * MiB, 64 * MiB, 256 * MiB, GiB})
            plan.push_back({tilecopy::size_text(bytes) + " copy+crc",
                            [bytes, c] { return bench::checksum_copy_section(bytes, *c); }});
        const std::size_t crc_bytes = a.quick ? 64 * MiB : GiB;
        plan.push_back({tilecopy::size_text(crc_bytes) + " checksum",
                        [crc_bytes, c] { return bench::checksum_section(crc_bytes, *c); }});
    }
    // Clones into fresh memory against torch's clone(), at the copy sizes from 1 MiB (a 1 GiB
    // row needs 3 GiB).
    if (m.torch && m.tilecopy_tensor)
        for (std::size_t bytes : sizes)
            if (bytes >= MiB)
                plan.push_back({tilecopy::size_text(bytes) + " clone",
                                [bytes, c] { return bench::clone_section(bytes, *c); }});
    // Snapshots of a state_dict: into the previous one against a warm copy_batch, a first one
    // against torch's clone() (docs/snapshot.md).
    if (m.tilecopy_batch && m.torch)
        for (std::size_t bytes : a.quick ? std::vector<std::size_t>{64 * MiB} : std::vector<std::size_t>{64 * MiB, GiB})
            plan.push_back({tilecopy::size_text(bytes) + " snapshot",
                            [bytes, c] { return bench::snapshot_section(bytes, *c); }});
    if (m.tilecopy_async) {
        const std::size_t async_bytes = a.quick ? 64 * MiB : GiB;
        plan.push_back({tilecopy::size_text(async_bytes) + " async",
                        [async_bytes, c] { return bench::async_section(async_bytes, *c); }});
    }
    return plan;
}

// Runs the plan, printing each section's rows as it completes. Returns false when a method
// failed verification or a section could not be allocated.
bool run_plan(const std::vector<PlannedSection>& plan, const bench::RunInfo& info,
              const Arguments& a, std::vector<SectionResult>& results) {
    ProgressLine progress;
    bool complete = true;
    for (std::size_t step = 0; step < plan.size(); ++step) {
        const std::string prefix = "[" + std::to_string(step + 1) + "/" + std::to_string(plan.size()) + "] ";
        progress.section(prefix + plan[step].name);
        SectionResult result;
        try {
            Section section = plan[step].build();
            bench::TimingSettings settings;
            bool large = section.src_bytes >= kLargeSize || section.dst_bytes >= kLargeSize;
            settings.rounds = large ? info.rounds_large : info.rounds_small;
            settings.pause_ms = a.pause_ms;
            settings.warmup_ms = a.warmup_ms;
            settings.min_sample_us = a.min_sample_us;
            settings.cold_idle_ms = a.cold_idle_ms;
            result = bench::run_section(section, settings, [&](const std::string& what) {
                progress.show(prefix + tilecopy::size_text(section.size_bytes) + " " + what);
            });
        } catch (const std::bad_alloc&) {
            progress.clear();
            std::fprintf(stderr, "tilecopy-bench: not enough memory for %s; skipped\n", plan[step].name.c_str());
            complete = false;
            continue;
        }
        progress.clear();
        bench::print_section_rows(stdout, result);
        for (const bench::VariantResult& v : result.variants)
            complete = complete && v.failure.empty();
        results.push_back(std::move(result));
    }
    return complete;
}

double process_cpu_ms() {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

// No helper may spin past its linger: after a parallel copy and the linger (and 50 ms for torch's
// and OpenMP's threads to stop spinning too), the process must use no CPU while it sleeps.
// Prints one line with a target, as the table's rows do.
void print_idle_cpu(tilecopy::CopyEngine& engine) {
    const std::size_t bytes = std::max<std::size_t>(engine.options().inline_threshold, 1) * 4;
    std::vector<unsigned char> src(bytes, 1), dst(bytes, 0);
    engine.copy(dst.data(), src.data(), bytes); // wakes the helpers when the strategy uses them
    engine.copy(dst.data(), src.data(), bytes); // within the linger: helpers in any case
    const double linger_ms = static_cast<double>(engine.options().linger_us) / 1e3;
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(linger_ms + 50.0));
    const double window_ms = 200.0;
    const double before = process_cpu_ms();
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(window_ms));
    const double used = process_cpu_ms() - before;
    std::printf("# idle after the linger: the process used %.3f ms of CPU in %.0f ms asleep (target < 1 ms: %s)\n", used,
                window_ms, used < 1.0 ? "met" : "NOT met");
}

void print_preamble(const bench::RunInfo& info) {
    std::printf("# tilecopy-bench %s\n# %s\n# %s\n# CPU: %s (%u logical CPUs), %s\n", TILECOPY_VERSION,
                info.date.c_str(), info.command_line.c_str(), info.cpu_model.c_str(), info.logical_cpus,
                info.os_kernel.c_str());
    std::printf("# load average (1 min): %.2f%s\n", info.load_average_start,
                info.load_average_start > 0.5 ? ": other work is running, expect noisy figures" : "");
    std::printf("# baselines: %d threads for torch %s (at::set_num_threads) and OpenMP; the OpenMP copy uses %s; "
                "tensor rows are %s\n",
                info.baseline_threads, info.torch_version.c_str(), info.omp_isa.c_str(), info.tensor_dtype.c_str());
    std::printf("# tilecopy engine:\n");
    for (const std::string& line : info.engine_description)
        std::printf("#   %s\n", line.c_str());
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-bench: tilecopy against memcpy, torch copy_ and an OpenMP copy (GB/s, 1 GB = 1e9 bytes)"};
    Arguments args;
    add_options(app, args);
    CLI11_PARSE(app, argc, argv);

    std::vector<std::size_t> sizes;
    bench::Methods methods;
    tilecopy::Options options;
    try {
        if (args.quick && app.count("--sizes") == 0)
            args.sizes = "4K,64K,1M,16M,64M";
        for (const std::string& s : split_commas(args.sizes))
            sizes.push_back(parse_size(s));
        if (sizes.empty())
            throw std::invalid_argument("--sizes names no size");
        methods = parse_methods(args.methods);
        options = engine_options(args);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "tilecopy-bench: %s\n", e.what());
        return 2;
    }

    std::unique_ptr<tilecopy::CopyEngine> engine;
    try {
        engine = std::make_unique<tilecopy::CopyEngine>(options);
    } catch (const tilecopy::Error& e) {
        std::fprintf(stderr, "tilecopy-bench: the engine rejected the options: %s\n", e.what());
        return 2;
    }
    const tilecopy::Options& resolved = engine->options();
    const unsigned cpus = std::thread::hardware_concurrency();
    // The baselines get as many threads as the engine resolved, so that all compete evenly.
    const int baseline_threads =
        static_cast<int>(resolved.threads ? resolved.threads : (args.threads ? args.threads : cpus));
    bench::set_torch_threads(baseline_threads);

    // The same engine forced to each store kind (rows from 16 MiB on).
    tilecopy::Options regular_options = options, nt_options = options;
    regular_options.nontemporal_threshold = std::numeric_limits<std::size_t>::max();
    nt_options.nontemporal_threshold = 1;
    tilecopy::CopyEngine forced_regular(regular_options), forced_nt(nt_options);

    Context ctx;
    ctx.engine = engine.get();
    ctx.forced_regular = &forced_regular;
    ctx.forced_nt = &forced_nt;
    ctx.threads = baseline_threads;
    ctx.methods = methods;
    ctx.float_tensors = args.tensor_dtype == "float32";

    bench::RunInfo info;
    info.date = bench::utc_now();
    info.command_line = join_arguments(argc, argv);
    info.cpu_model = bench::cpu_model();
    info.logical_cpus = cpus;
    info.os_kernel = bench::os_kernel();
    info.load_average_start = bench::load_average();
    info.copy_kernel = engine->kernel();
    info.engine_description = engine->describe();
    info.engine_threads = resolved.threads;
    info.block_bytes = resolved.block_bytes;
    info.inline_threshold = resolved.inline_threshold;
    info.nontemporal_threshold = resolved.nontemporal_threshold;
    info.tile_bytes = resolved.tile_bytes;
    info.baseline_threads = baseline_threads;
    info.omp_isa = bench::omp_tiled_copy_isa();
    info.torch_version = bench::torch_version();
    info.tensor_dtype = args.tensor_dtype;
    info.rounds_small = args.rounds > 0 ? args.rounds : args.quick ? 5 : 11;
    info.rounds_large = args.rounds > 0 ? args.rounds : 5;
    info.pause_ms = args.pause_ms;
    info.min_sample_us = args.min_sample_us;
    info.cold_idle_ms = args.cold_idle_ms;
    info.quick = args.quick;

    print_preamble(info);
    bench::print_table_header(stdout, info.rounds_small, info.rounds_large);
    std::vector<SectionResult> results;
    std::vector<PlannedSection> plan = plan_sections(args, sizes, ctx);
    if (!args.only.empty()) {
        const std::vector<std::string> words = split_commas(args.only);
        plan.erase(std::remove_if(plan.begin(), plan.end(), [&words](const PlannedSection& p) {
                       return std::none_of(words.begin(), words.end(), [&p](const std::string& w) {
                           return p.name.find(w) != std::string::npos;
                       });
                   }), plan.end());
    }
    bool complete = run_plan(plan, info, args, results);
    bench::print_targets(stdout, results);
    print_idle_cpu(*engine);
    info.load_average_end = bench::load_average();
    info.engine_description_after = engine->describe();
    tilecopy::Stats stats = engine->stats();
    info.engine_stats = {{"copies", stats.copies},
                         {"bytes", stats.bytes},
                         {"inline_copies", stats.inline_copies},
                         {"parallel_copies", stats.parallel_copies},
                         {"nontemporal_copies", stats.nontemporal_copies},
                         {"tensor_contiguous", stats.tensor_contiguous},
                         {"tensor_strided", stats.tensor_strided},
                         {"tensor_converted", stats.tensor_converted},
                         {"tensor_fallback", stats.tensor_fallback}};

    int status = complete ? 0 : 1;
    if (!complete)
        std::fprintf(stderr, "tilecopy-bench: some methods failed verification or were skipped (see above)\n");
    if (!args.json_path.empty()) {
        try {
            bench::write_json(args.json_path, info, results);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "tilecopy-bench: %s\n", e.what());
            status = 3;
        }
    }
    if (!args.svg_path.empty()) {
        std::string why = bench::write_svg(args.svg_path, info, results);
        if (!why.empty()) {
            std::fprintf(stderr, "tilecopy-bench: no SVG written: %s\n", why.c_str());
            status = 3;
        }
    }
    return status;
}
