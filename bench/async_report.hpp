// What tilecopy-async-limits prints and writes: one row a figure (a median over rounds of a
// value taken in each round, with its target if it has one), the JSON, and the sweep's plot.
#pragma once

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace bench::async {

struct Figure {
    std::string group; // "alone", "threads=1", "bytes_per_second", "start", "cancel"
    std::string name;
    std::string unit; // "%", "x", "us", "ms", "GB/s"
    std::vector<double> rounds; // one value a round; NaN: not taken that round
    // The target: the median must be at most / at least this (NaN: no bound).
    double at_most = std::numeric_limits<double>::quiet_NaN();
    double at_least = std::numeric_limits<double>::quiet_NaN();
    std::string note; // printed after the target (why it cannot be met here, say)

    double median() const; // over the rounds that took a value; NaN when none did
    double min() const;
    double max() const;
    bool has_target() const;
    bool met() const;
    // "<=60% met", ">=0.80 NOT met", "0.90-1.10 met", or empty without a target.
    std::string target_text() const;
};

// "2.00 GiB", "246.5 MiB", "5.0 KiB", "512 B".
std::string bytes_text(double bytes);

// The rate sweep's figures for one limit B, for the plot and the JSON.
struct SweepPoint {
    double limit_gbs = 0;
    Figure* alone_ratio = nullptr;  // achieved / B with no foreground loop
    Figure* matmul_slowdown = nullptr;
    Figure* copy_slowdown = nullptr;
    Figure* matmul_ratio = nullptr; // achieved / B beside the matmul loop
    Figure* copy_ratio = nullptr;   // beside the copy loop
};

struct RunInfo {
    std::string date, command_line, cpu_model;
    double load_start = -1, load_end = -1;
    std::size_t engine_threads = 0, block_bytes = 0;
    std::size_t snapshot_bytes = 0, snapshot_tensors = 0, largest_tensor = 0, smallest_tensor = 0;
    int matmul_n = 0, rounds = 0;
    double matmul_step_ms = 0;
    std::size_t copy_bytes = 0, probe_bytes = 0;
    // Lines printed before the table (what was measured and how).
    std::vector<std::string> header;
};

void print_figures(std::FILE* out, const RunInfo& info, const std::vector<Figure>& figures);
// Every row with a target, met or not, and how many were met.
void print_targets(std::FILE* out, const std::vector<Figure>& figures);
// Throws std::runtime_error naming the file when it cannot be written.
void write_json(const std::string& path, const RunInfo& info, const std::vector<Figure>& figures,
                const std::vector<SweepPoint>& sweep);
// Plots the foreground's slowdown and the achieved rate / B against B (gnuplot); an empty
// string on success, else why no SVG was written.
std::string write_svg(const std::string& path, const RunInfo& info, const std::vector<SweepPoint>& sweep,
                      const Figure* unlimited_matmul, const Figure* unlimited_copy);

} // namespace bench::async
