#include "report.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <tilecopy/units.hpp>

namespace bench {

void print_table_header(std::FILE* out, int rounds_small, int rounds_large) {
    std::fprintf(out,
                 "# GB/s: destination bytes written per second, 1 GB = 1e9 bytes; median of %d rounds "
                 "(%d at 256 MiB and above), min and max beside it.\n"
                 "# ratio: the median over rounds of (this row's GB/s / the reference row's GB/s in the same "
                 "round).\n",
                 rounds_small, rounds_large);
    std::fprintf(out, "%-10s %9s  %-28s %9s %9s %9s %7s  %s\n", "section", "size", "method", "GB/s", "min", "max",
                 "ratio", "reference");
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
        std::fprintf(out, "%-10s %9s  %-28s %9.2f %9.2f %9.2f %7s  %s\n", section.name.c_str(), size.c_str(),
                     v.label.c_str(), v.median_gbps, v.min_gbps, v.max_gbps, ratio,
                     v.reference_label.empty() ? "" : v.reference_label.c_str());
    }
    for (const std::string& note : section.notes)
        std::fprintf(out, "%-10s %9s  # %s\n", section.name.c_str(), size.c_str(), note.c_str());
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

// Removes a temporary directory and what this file put in it.
struct TempDir {
    std::string path;
    std::vector<std::string> files;
    ~TempDir() {
        for (const std::string& f : files)
            ::unlink(f.c_str());
        if (!path.empty())
            ::rmdir(path.c_str());
    }
};

std::string quoted_for_gnuplot(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

std::string quoted_for_shell(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

} // namespace

std::string write_svg(const std::string& path, const RunInfo& info, const std::vector<SectionResult>& sections) {
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0)
        return "gnuplot is not installed (Debian: apt-get install gnuplot-nox)";

    // label -> size -> (median, min, max), in the order methods first appear.
    std::vector<std::string> order;
    std::map<std::string, std::map<std::size_t, std::vector<double>>> points;
    for (const SectionResult& s : sections) {
        if (s.name != "copy")
            continue;
        for (const VariantResult& v : s.variants) {
            if (!v.failure.empty() || v.gbps.empty())
                continue;
            if (!points.count(v.label))
                order.push_back(v.label);
            points[v.label][s.dst_bytes] = {v.median_gbps, v.min_gbps, v.max_gbps};
        }
    }
    if (order.empty())
        return "no copy rows to plot";
    std::string xtics;
    for (const SectionResult& s : sections)
        if (s.name == "copy")
            xtics += (xtics.empty() ? "" : ", ") + quoted_for_gnuplot(tilecopy::size_text(s.dst_bytes)) + " " +
                     std::to_string(s.dst_bytes);

    char dir_template[] = "/tmp/tilecopy-bench-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr)
        return "cannot create a temporary directory for gnuplot";
    TempDir dir{dir_template, {}};

    std::string plot = "plot ";
    for (std::size_t i = 0; i < order.size(); ++i) {
        std::string data = dir.path + "/method" + std::to_string(i) + ".dat";
        dir.files.push_back(data);
        std::ofstream f(data);
        f << "# bytes median_gbps min_gbps max_gbps\n";
        for (const auto& [bytes, p] : points[order[i]])
            f << bytes << ' ' << p[0] << ' ' << p[1] << ' ' << p[2] << '\n';
        if (!f)
            return "cannot write " + data;
        plot += (i ? ", " : "") + quoted_for_gnuplot(data) + " using 1:2:3:4 with yerrorlines pointtype 7 pointsize 0.6 title " +
                quoted_for_gnuplot(order[i]);
    }

    std::string script = dir.path + "/plot.gp";
    dir.files.push_back(script);
    {
        std::ofstream f(script);
        f << "set terminal svg size 960,600 dynamic enhanced font 'sans,12' background rgb 'white'\n"
          << "set output " << quoted_for_gnuplot(path) << "\n"
          << "set title " << quoted_for_gnuplot("tilecopy-bench: " + info.cpu_model + ", " +
                                                std::to_string(info.baseline_threads) + " threads, " +
                                                info.copy_kernel + " kernel, " + info.date) << " noenhanced\n"
          << "set logscale x 2\n"
          << "set xtics (" << xtics << ")\n"
          << "set xlabel 'copy size (bytes)'\n"
          << "set ylabel 'GB/s (destination bytes / s, 1 GB = 1e9 bytes)'\n"
          << "set yrange [0:*]\n"
          << "set offsets graph 0.03, graph 0.03, 0, 0\n"
          << "set grid\n"
          << "set key outside right top noenhanced\n"
          << "set bars small\n"
          << plot << "\n";
        if (!f)
            return "cannot write " + script;
    }
    // gnuplot's complaints belong on stderr with ours, not in the table.
    std::string command = "gnuplot " + quoted_for_shell(script) + " 1>&2";
    if (std::system(command.c_str()) != 0)
        return "gnuplot failed on " + script;
    return {};
}

} // namespace bench
