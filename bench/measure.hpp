// Timing: the variants of one section are timed round by round, interleaved on the same
// buffers, and each variant's figures are compared with its reference's from the same round.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace bench {

enum class Timing {
    Warm, // after a pause and warmup_ms of untimed calls; repeated until a sample is long enough
    Cold, // one call after an idle spell long enough for worker threads to go to sleep
};

struct Variant {
    std::string method; // "memcpy", "torch", "omp", "tilecopy", "tilecopy-tensor"
    std::string label;  // what the table shows, e.g. "tilecopy cold"
    std::function<void()> copy;
    // Clears the destination, copies once, compares; returns an empty string when the result
    // is right, else what is wrong. A variant that fails is not timed.
    std::function<std::string()> verify;
    int reference = -1; // index in Section::variants of the variant this one is divided by
    // Instead of one reference: divided, round by round, by the fastest of these variants in
    // that round ("the best other method"). Wins over `reference` when not empty.
    std::vector<int> best_of;
    // The ratio this row must reach (the median over rounds, >=); 0: none. The table says
    // whether it was met, and the run ends with every target row.
    double target = 0;
    Timing timing = Timing::Warm;
    // Cold timing only: the idle spell before the call (negative: TimingSettings::cold_idle_ms),
    // and untimed work between it and the call (a torch op, fresh destination pages).
    double idle_ms = -1;
    std::function<void()> prepare;
    // Cold timing only: untimed calls of this variant before the timed one, each followed by
    // the idle spell, so that the timed call finds what a steady stream of such calls leaves
    // (its own threads awake or asleep, its own buffers where it left them).
    int lead_in = 0;
};

struct SectionResult;

struct Section {
    std::string name;        // "copy", "f32->bf16", "misaligned", "4k-aliased", "cold"
    std::size_t size_bytes = 0; // the size the table names (for conversions: the float32 side)
    std::size_t src_bytes = 0;
    std::size_t dst_bytes = 0; // bytes written per call: the numerator of GB/s
    std::vector<Variant> variants;
    std::shared_ptr<void> buffers; // what the variants' closures point into
    // Figures other than GB/s (a time to return, a ratio to a second reference), read from the
    // timed results; printed under the section's rows and written to the JSON.
    std::function<std::vector<std::string>(const SectionResult&)> notes;
};

struct TimingSettings {
    int rounds = 7;
    double pause_ms = 25.0;    // before every warm sample: longer than any method's spinning workers
    double warmup_ms = 10.0;   // then untimed calls for this long, so every method is timed warm
    double min_sample_us = 500.0;
    double cold_idle_ms = 10.0;
};

struct VariantResult {
    std::string method;
    std::string label;
    std::string failure;            // non-empty: verification failed, nothing timed
    std::size_t calls_per_sample = 0;
    std::vector<double> gbps;       // one per round
    std::vector<double> ratios;     // gbps / reference's gbps, round by round
    std::string reference_label;    // empty: no reference
    std::string reference_method;   // the reference's method; "best of" for Variant::best_of
    double median_gbps = 0, min_gbps = 0, max_gbps = 0;
    double median_ratio = std::numeric_limits<double>::quiet_NaN(); // NaN: no reference
    Timing timing = Timing::Warm;
    double target = 0; // Variant::target
    bool target_met() const { return target > 0 && median_ratio >= target; }
};

struct SectionResult {
    std::string name;
    std::size_t size_bytes = 0;
    std::size_t src_bytes = 0;
    std::size_t dst_bytes = 0;
    std::vector<VariantResult> variants;
    std::vector<std::string> notes;
};

// Called with a short line before each step (for the progress line).
using Progress = std::function<void(const std::string&)>;

SectionResult run_section(const Section& section, const TimingSettings& settings, const Progress& progress);

double median(std::vector<double> values);

} // namespace bench
