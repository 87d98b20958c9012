#include "report.hpp"

#include "gnuplot.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <fstream>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <tilecopy/units.hpp>

namespace bench {

namespace {

// ">=0.95 met", ">=0.95 NOT met", or empty for a row without a target.
std::string target_text(const VariantResult& v) {
    if (v.target <= 0)
        return "";
    char text[32];
    std::snprintf(text, sizeof text, ">=%.2f %s", v.target, v.target_met() ? "met" : "NOT met");
    return text;
}

} // namespace

void print_table_header(std::FILE* out, int rounds_small, int rounds_large) {
    std::fprintf(out,
                 "# GB/s: destination bytes written per second, 1 GB = 1e9 bytes; median of %d rounds "
                 "(%d at 256 MiB and above), min and max beside it.\n"
                 "# ratio: the median over rounds of (this row's GB/s / the reference row's GB/s in the same "
                 "round; \"best of\": the fastest of those rows in that round).\n"
                 "# target: the ratio the row must reach (docs/benchmarks.md, \"Targets\"), met or NOT met.\n",
                 rounds_small, rounds_large);
    std::fprintf(out, "%-10s %9s  %-28s %9s %9s %9s %7s  %-15s %s\n", "section", "size", "method", "GB/s", "min", "max",
                 "ratio", "target", "reference");
    std::fflush(out);
}

void print_section_rows(std::FILE* out, const SectionResult& section) {
    std::string size = tilecopy::size_text(section.size_bytes);
    for (const VariantResult& v : section.variants) {
        if (!v.failure.empty()) {
            std::fprintf(out, "%-10s %9s  %-28s FAILED verification, not timed: %s\n", section.name.c_str(),
                         size.c_str(), v.label.c_str(), v.failure.c_str());
            continue;
        }
        char ratio[32] = "-";
        if (!std::isnan(v.median_ratio))
            std::snprintf(ratio, sizeof ratio, "%.2fx", v.median_ratio);
        std::fprintf(out, "%-10s %9s  %-28s %9.2f %9.2f %9.2f %7s  %-15s %s\n", section.name.c_str(), size.c_str(),
                     v.label.c_str(), v.median_gbps, v.min_gbps, v.max_gbps, ratio, target_text(v).c_str(),
                     v.reference_label.empty() ? "" : v.reference_label.c_str());
    }
    for (const std::string& note : section.notes)
        std::fprintf(out, "%-10s %9s  # %s\n", section.name.c_str(), size.c_str(), note.c_str());
    std::fflush(out);
}

void print_targets(std::FILE* out, const std::vector<SectionResult>& sections) {
    std::size_t rows = 0, met = 0;
    for (const SectionResult& s : sections)
        for (const VariantResult& v : s.variants)
            if (v.target > 0) {
                ++rows;
                met += v.target_met() ? 1 : 0;
            }
    if (rows == 0)
        return;
    std::fprintf(out, "\n# targets: %zu of %zu rows met\n", met, rows);
    for (const SectionResult& s : sections)
        for (const VariantResult& v : s.variants)
            if (v.target > 0)
                std::fprintf(out, "%-10s %9s  %-28s %7.2fx  %s  (%s)\n", s.name.c_str(),
                             tilecopy::size_text(s.size_bytes).c_str(), v.label.c_str(), v.median_ratio,
                             target_text(v).c_str(), v.reference_label.c_str());
    std::fflush(out);
}

namespace {

nlohmann::ordered_json to_json(const VariantResult& v) {
    nlohmann::ordered_json j;
    j["method"] = v.method;
    j["label"] = v.label;
    j["timing"] = v.timing == Timing::Cold ? "cold" : "warm";
    j["verified"] = v.failure.empty();
    if (!v.failure.empty())
        j["failure"] = v.failure;
    j["calls_per_sample"] = v.calls_per_sample;
    j["gbps"] = v.gbps;
    j["median_gbps"] = v.median_gbps;
    j["min_gbps"] = v.min_gbps;
    j["max_gbps"] = v.max_gbps;
    if (!v.reference_label.empty()) {
        j["reference"] = v.reference_label;
        j["ratios"] = v.ratios;
        j["median_ratio"] = v.median_ratio; // NaN (no common rounds) is written as null
    }
    if (v.target > 0) {
        j["target_ratio"] = v.target;
        j["target_met"] = v.target_met();
    }
    return j;
}

} // namespace

void write_json(const std::string& path, const RunInfo& info, const std::vector<SectionResult>& sections) {
    nlohmann::ordered_json j;
    j["benchmark"] = "tilecopy-bench";
    j["date"] = info.date;
    j["command_line"] = info.command_line;
    j["units"] = {{"gbps", "destination bytes per second / 1e9"},
                  {"median_ratio", "median over rounds of gbps / the reference's gbps in the same round"}};
    j["machine"] = {{"cpu_model", info.cpu_model},
                    {"logical_cpus", info.logical_cpus},
                    {"os_kernel", info.os_kernel},
                    {"load_average_1min_start", info.load_average_start},
                    {"load_average_1min_end", info.load_average_end}};
    j["engine"] = {{"kernel", info.copy_kernel},
                   {"describe", info.engine_description},
                   {"describe_after_run", info.engine_description_after},
                   {"threads", info.engine_threads},
                   {"tile_bytes", info.tile_bytes},
                   {"block_bytes", info.block_bytes},
                   {"inline_threshold", info.inline_threshold},
                   {"nontemporal_threshold", info.nontemporal_threshold}};
    nlohmann::ordered_json stats = nlohmann::ordered_json::object();
    for (const auto& [name, value] : info.engine_stats)
        stats[name] = value;
    j["engine"]["stats_after_run"] = std::move(stats);
    j["baselines"] = {{"threads", info.baseline_threads},
                      {"omp_isa", info.omp_isa},
                      {"torch_version", info.torch_version},
                      {"tensor_dtype", info.tensor_dtype}};
    j["settings"] = {{"rounds", info.rounds_small},
                     {"rounds_at_256MiB_and_above", info.rounds_large},
                     {"pause_ms", info.pause_ms},
                     {"min_sample_us", info.min_sample_us},
                     {"cold_idle_ms", info.cold_idle_ms},
                     {"quick", info.quick}};
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const SectionResult& s : sections) {
        nlohmann::ordered_json js;
        js["section"] = s.name;
        js["size_bytes"] = s.size_bytes;
        js["src_bytes"] = s.src_bytes;
        js["dst_bytes"] = s.dst_bytes;
        js["variants"] = nlohmann::ordered_json::array();
        for (const VariantResult& v : s.variants)
            js["variants"].push_back(to_json(v));
        if (!s.notes.empty())
            js["notes"] = s.notes;
        list.push_back(std::move(js));
    }
    j["sections"] = std::move(list);

    std::ofstream file(path);
    file << j.dump(2) << '\n';
    if (!file)
        throw std::runtime_error("cannot write JSON to '" + path + "'");
}


namespace {

// The ratio panels, one per pattern: which sections feed each.
struct Panel {
    const char* title;
    bool (*matches)(const std::string& section);
};

const Panel kPanels[] = {
    {"back to back", [](const std::string& s) { return s == "copy"; }},
    {"isolated (one copy after idleness, a torch op, or in a stream)", [](const std::string& s) { return s == "isolated"; }},
    {"fresh memory", [](const std::string& s) { return s.find("fresh") != std::string::npos; }},
    {"batch", [](const std::string& s) { return s.rfind("batch", 0) == 0; }},
    {"conversions", [](const std::string& s) { return s.find("->") != std::string::npos; }},
};

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// A tilecopy row divided by another method (or the best of the others): what the ratio panels draw.
bool against_others(const VariantResult& v) {
    return v.failure.empty() && starts_with(v.method, "tilecopy") && !v.reference_method.empty() &&
           !starts_with(v.reference_method, "tilecopy") && !std::isnan(v.median_ratio) && !v.ratios.empty();
}

using Series = std::map<std::size_t, std::vector<double>>; // bytes -> median, min, max

// Writes one data file per series; returns the plot command's list, or empty when there is none.
std::string plot_list(TempDir& dir, const std::string& stem, const std::vector<std::string>& order,
                      std::map<std::string, Series>& series, std::string& error) {
    std::string list;
    for (std::size_t i = 0; i < order.size(); ++i) {
        const std::string data = dir.file(stem + std::to_string(i) + ".dat");
        std::ofstream f(data);
        f << "# bytes median min max\n";
        for (const auto& [bytes, p] : series[order[i]])
            f << bytes << ' ' << p[0] << ' ' << p[1] << ' ' << p[2] << '\n';
        if (!f) {
            error = "cannot write " + data;
            return {};
        }
        list += (i ? ", " : "") + quoted_for_gnuplot(data) +
                " using 1:2:3:4 with yerrorlines pointtype 7 pointsize 0.6 title " + quoted_for_gnuplot(order[i]);
    }
    return list;
}

} // namespace

std::string write_svg(const std::string& path, const RunInfo& info, const std::vector<SectionResult>& sections) {
    if (!have_gnuplot())
        return "gnuplot is not installed (Debian: apt-get install gnuplot-nox)";

    // (a) Ratios: panel -> series -> size -> (median, min, max) over rounds.
    struct PanelData {
        std::vector<std::string> order;
        std::map<std::string, Series> series;
    };
    std::vector<PanelData> panels(std::size(kPanels));
    for (const SectionResult& s : sections) {
        for (std::size_t p = 0; p < panels.size(); ++p) {
            if (!kPanels[p].matches(s.name))
                continue;
            for (const VariantResult& v : s.variants) {
                if (!against_others(v))
                    continue;
                // Sections of one panel that differ by name (two batches, two conversions) keep apart.
                const bool named = s.name != "copy" && s.name != "isolated" && s.name.find("fresh") == std::string::npos;
                const std::string key = (named ? s.name + ": " : std::string()) + v.label + " / " +
                                        (v.reference_method == "best of" ? std::string("best other") : v.reference_label);
                if (!panels[p].series.count(key))
                    panels[p].order.push_back(key);
                auto [lo, hi] = std::minmax_element(v.ratios.begin(), v.ratios.end());
                panels[p].series[key][s.size_bytes] = {v.median_ratio, *lo, *hi}; // conversions: the float32 side
            }
        }
    }
    // (b) GB/s of every method back to back.
    std::vector<std::string> order;
    std::map<std::string, Series> gbps;
    for (const SectionResult& s : sections) {
        if (s.name != "copy")
            continue;
        for (const VariantResult& v : s.variants) {
            if (!v.failure.empty() || v.gbps.empty())
                continue;
            if (!gbps.count(v.label))
                order.push_back(v.label);
            gbps[v.label][s.dst_bytes] = {v.median_gbps, v.min_gbps, v.max_gbps};
        }
    }
    std::size_t drawn = 0;
    for (const PanelData& p : panels)
        drawn += p.order.empty() ? 0 : 1;
    if (order.empty() && drawn == 0)
        return "no rows to plot";

    TempDir dir;
    if (!dir.make("tilecopy-bench"))
        return "cannot create a temporary directory for gnuplot";

    const std::string script = dir.file("plot.gp");
    std::ofstream f(script);
    const std::size_t rows = std::max<std::size_t>(drawn, 2);
    f << "set terminal svg size 1500," << 80 + 330 * rows << " dynamic enhanced font 'sans,11' background rgb 'white'\n"
      << "set output " << quoted_for_gnuplot(path) << "\n"
      << "set multiplot title " << quoted_for_gnuplot("tilecopy-bench: " + info.cpu_model + ", " +
                                                      std::to_string(info.baseline_threads) + " threads, " +
                                                      info.copy_kernel + " kernel, " + info.date) << " noenhanced\n"
      << "set logscale x 2\nset format x '%.0b%B'\nset xlabel 'copy size (bytes, log_2)'\n"
      << "set grid\nset key top left noenhanced font ',9' opaque\nset bars small\n"
      << "set offsets graph 0.03, graph 0.03, 0, 0\n";
    const double top = 1.0 - 40.0 / (80.0 + 330.0 * static_cast<double>(rows));
    const double height = top / static_cast<double>(rows);
    std::size_t row = 0;
    std::string error;
    for (std::size_t p = 0; p < panels.size(); ++p) {
        if (panels[p].order.empty())
            continue;
        const std::string list = plot_list(dir, "ratio" + std::to_string(p) + "_", panels[p].order, panels[p].series, error);
        if (!error.empty())
            return error;
        f << "set origin 0," << top - height * static_cast<double>(row + 1) << "\nset size 0.5," << height << "\n"
          << "set title " << quoted_for_gnuplot(std::string("ratio, ") + kPanels[p].title) << " noenhanced\n"
          << "set logscale y 2\nset ylabel 'tilecopy / other (same round)'\nset yrange [*:*]\n"
          << "set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb 'black' front\n"
          << "plot " << list << "\nunset arrow 1\n";
        ++row;
    }
    if (!order.empty()) {
        const std::string list = plot_list(dir, "gbps", order, gbps, error);
        if (!error.empty())
            return error;
        f << "set origin 0.5," << top - height * 2 << "\nset size 0.5," << height * 2 << "\n"
          << "set title 'GB/s back to back (log axis)'\nset logscale y 10\n"
          << "set ylabel 'GB/s (destination bytes / s, 1 GB = 1e9 bytes)'\nset yrange [*:*]\n"
          << "plot " << list << "\n";
    }
    f << "unset multiplot\n";
    f.close();
    if (!f)
        return "cannot write " + script;
    return run_gnuplot(script);
}

} // namespace bench
