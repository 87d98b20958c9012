// What the benchmark prints and writes: the table (as it runs), JSON, and an SVG via gnuplot.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "measure.hpp"

namespace bench {

void print_table_header(std::FILE* out, int rounds_small, int rounds_large);
void print_section_rows(std::FILE* out, const SectionResult& section);
// Every row with a target, met or not, and how many were met (after the table).
void print_targets(std::FILE* out, const std::vector<SectionResult>& sections);

struct RunInfo {
    std::string date;          // ISO 8601, UTC
    std::string command_line;
    std::string cpu_model;
    unsigned logical_cpus = 0;
    std::string os_kernel;     // uname -r
    std::string copy_kernel;   // CopyEngine::kernel()
    std::vector<std::string> engine_description;       // before the first copy
    std::vector<std::string> engine_description_after; // after the last (workers, pinning)
    // CopyEngine::stats() after the run: which paths the copies took (inline, parallel, ...).
    std::vector<std::pair<std::string, std::uint64_t>> engine_stats;
    double load_average_start = -1;
    double load_average_end = -1;
    std::size_t engine_threads = 0;
    std::size_t block_bytes = 0;
    std::size_t inline_threshold = 0;
    std::size_t nontemporal_threshold = 0;
    std::size_t tile_bytes = 0;
    int baseline_threads = 0;
    std::string omp_isa;
    std::string torch_version;
    std::string tensor_dtype;
    int rounds_small = 0;
    int rounds_large = 0;
    double pause_ms = 0;
    double min_sample_us = 0;
    double cold_idle_ms = 0;
    bool quick = false;
};

// Throws std::runtime_error naming the file when it cannot be written.
void write_json(const std::string& path, const RunInfo& info, const std::vector<SectionResult>& sections);

// Plots (a) tilecopy's ratio to the best other method (or its section's reference) against size,
// one panel per pattern (back to back, isolated, fresh memory, batch, conversions), and (b) every
// method's GB/s back to back on a log axis beside them. Returns an empty string
// on success, else why no SVG was written (gnuplot missing or failing).
std::string write_svg(const std::string& path, const RunInfo& info, const std::vector<SectionResult>& sections);

} // namespace bench
