#include "async_report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>


#include "gnuplot.hpp"
#include "measure.hpp"

namespace bench::async {

namespace {

std::vector<double> taken(const std::vector<double>& values) {
    std::vector<double> out;
    for (double v : values)
        if (!std::isnan(v)) out.push_back(v);
    return out;
}

std::string number(double v, const std::string& unit) {
    char text[32];
    std::snprintf(text, sizeof text, unit == "x" ? "%.2f" : (std::fabs(v) >= 100 ? "%.0f" : "%.1f"), v);
    return text;
}

} // namespace

std::string bytes_text(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
    char text[32];
    std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : (u == 3 ? "%.2f %s" : "%.1f %s"), bytes, units[u]);
    return text;
}

double Figure::median() const { return bench::median(taken(rounds)); }

double Figure::min() const {
    const auto v = taken(rounds);
    return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

double Figure::max() const {
    const auto v = taken(rounds);
    return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

bool Figure::has_target() const { return !std::isnan(at_most) || !std::isnan(at_least); }

bool Figure::met() const {
    const double m = median();
    return has_target() && !std::isnan(m) && (std::isnan(at_most) || m <= at_most) &&
           (std::isnan(at_least) || m >= at_least);
}

std::string Figure::target_text() const {
    if (!has_target()) return "";
    const std::string u = unit == "x" ? "" : unit;
    std::string bound;
    if (!std::isnan(at_most) && !std::isnan(at_least))
        bound = number(at_least, unit) + "-" + number(at_most, unit) + u;
    else if (!std::isnan(at_most))
        bound = "<=" + number(at_most, unit) + u;
    else
        bound = ">=" + number(at_least, unit) + u;
    return bound + (met() ? " met" : " NOT met");
}

void print_figures(std::FILE* out, const RunInfo& info, const std::vector<Figure>& figures) {
    for (const std::string& line : info.header) std::fprintf(out, "# %s\n", line.c_str());
    std::fprintf(out, "%-18s %-52s %9s %9s %9s %-5s  %s\n", "group", "figure", "median", "min", "max", "unit",
                 "target");
    for (const Figure& f : figures)
        std::fprintf(out, "%-18s %-52s %9s %9s %9s %-5s  %s%s%s\n", f.group.c_str(), f.name.c_str(),
                     number(f.median(), f.unit).c_str(), number(f.min(), f.unit).c_str(),
                     number(f.max(), f.unit).c_str(), f.unit.c_str(), f.target_text().c_str(),
                     f.note.empty() ? "" : "  ", f.note.c_str());
    std::fflush(out);
}

void print_targets(std::FILE* out, const std::vector<Figure>& figures) {
    std::size_t rows = 0, met = 0;
    for (const Figure& f : figures)
        if (f.has_target()) ++rows, met += f.met() ? 1 : 0;
    std::fprintf(out, "\n# targets: %zu of %zu rows met\n", met, rows);
    for (const Figure& f : figures)
        if (f.has_target())
            std::fprintf(out, "%-18s %-52s %9s %-5s  %s%s%s\n", f.group.c_str(), f.name.c_str(),
                         number(f.median(), f.unit).c_str(), f.unit.c_str(), f.target_text().c_str(),
                         f.note.empty() ? "" : "  ", f.note.c_str());
    std::fflush(out);
}

namespace {

nlohmann::ordered_json to_json(const Figure& f) {
    nlohmann::ordered_json j;
    j["group"] = f.group;
    j["name"] = f.name;
    j["unit"] = f.unit;
    j["rounds"] = f.rounds; // NaN (not taken that round) is written as null
    j["median"] = f.median();
    if (!f.note.empty()) j["note"] = f.note;
    if (f.has_target()) {
        if (!std::isnan(f.at_most)) j["target_at_most"] = f.at_most;
        if (!std::isnan(f.at_least)) j["target_at_least"] = f.at_least;
        j["target_met"] = f.met();
    }
    return j;
}

} // namespace

void write_json(const std::string& path, const RunInfo& info, const std::vector<Figure>& figures,
                const std::vector<SweepPoint>& sweep) {
    nlohmann::ordered_json j;
    j["benchmark"] = "tilecopy-async-limits";
    j["date"] = info.date;
    j["command_line"] = info.command_line;
    j["cpu_model"] = info.cpu_model;
    j["load_average_start"] = info.load_start;
    j["load_average_end"] = info.load_end;
    j["engine_threads"] = info.engine_threads;
    j["block_bytes"] = info.block_bytes;
    j["snapshot"] = {{"bytes", info.snapshot_bytes}, {"tensors", info.snapshot_tensors},
                     {"largest_bytes", info.largest_tensor}, {"smallest_bytes", info.smallest_tensor}};
    j["matmul"] = {{"n", info.matmul_n}, {"step_ms", info.matmul_step_ms}};
    j["copy_bytes"] = info.copy_bytes;
    j["probe_bytes"] = info.probe_bytes;
    j["rounds"] = info.rounds;
    j["figures"] = nlohmann::ordered_json::array();
    for (const Figure& f : figures) j["figures"].push_back(to_json(f));
    j["sweep"] = nlohmann::ordered_json::array();
    for (const SweepPoint& p : sweep)
        j["sweep"].push_back({{"limit_gbps", p.limit_gbs},
                              {"achieved_over_limit_alone", p.alone_ratio->median()},
                              {"matmul_slowdown_percent", p.matmul_slowdown->median()},
                              {"copy_slowdown_percent", p.copy_slowdown->median()},
                              {"achieved_over_limit_matmul", p.matmul_ratio->median()},
                              {"achieved_over_limit_copy", p.copy_ratio->median()}});
    std::ofstream f(path);
    f << j.dump(2) << '\n';
    if (!f) throw std::runtime_error("cannot write " + path);
}

std::string write_svg(const std::string& path, const RunInfo& info, const std::vector<SweepPoint>& sweep,
                      const Figure* unlimited_matmul, const Figure* unlimited_copy) {
    if (sweep.empty()) return "no rate limits to plot";
    if (!have_gnuplot()) return "gnuplot is not installed (Debian: apt-get install gnuplot-nox)";
    TempDir dir;
    if (!dir.make("tilecopy-async-limits")) return "cannot create a temporary directory for gnuplot";
    const std::string data = dir.file("sweep.dat");
    {
        std::ofstream f(data);
        f << "# B_GBps matmul_slowdown min max copy_slowdown min max ratio_matmul min max ratio_copy min max\n";
        for (const SweepPoint& p : sweep) {
            f << p.limit_gbs;
            for (const Figure* g : {p.matmul_slowdown, p.copy_slowdown, p.matmul_ratio, p.copy_ratio})
                f << ' ' << g->median() << ' ' << g->min() << ' ' << g->max();
            f << '\n';
        }
        if (!f) return "cannot write " + data;
    }
    const std::string script = dir.file("plot.gp");
    std::ofstream f(script);
    const std::string q = quoted_for_gnuplot(data);
    f << "set terminal svg size 1300,520 dynamic enhanced font 'sans,11' background rgb 'white'\n"
      << "set output " << quoted_for_gnuplot(path) << "\n"
      << "set multiplot layout 1,2 title "
      << quoted_for_gnuplot("tilecopy-async-limits: a " + bytes_text(double(info.snapshot_bytes)) + " state_dict (" +
                            std::to_string(info.snapshot_tensors) + " tensors) staged at bytes_per_second=B; " +
                            info.cpu_model + ", load " + number(info.load_start, "") + ", " + info.date +
                            " (median of " + std::to_string(info.rounds) + " rounds, bars: min-max)")
      << " noenhanced\n"
      << "set grid\nset key top left noenhanced\nset bars small\nset xlabel 'B (GB/s, 1 GB = 1e9 bytes)'\n"
      << "set offsets graph 0.03, graph 0.03, 0, 0\n"
      << "set title 'foreground slowdown beside the staging (%)'\nset ylabel 'slowdown (%)'\n";
    int arrow = 1;
    for (const auto& [fig, label] : {std::pair{unlimited_matmul, "matmul"}, std::pair{unlimited_copy, "copies"}}) {
        if (!fig || std::isnan(fig->median())) continue;
        f << "set arrow " << arrow++ << " from graph 0, first " << fig->median() << " to graph 1, first "
          << fig->median() << " nohead dashtype 2 lc rgb '" << (label == std::string("matmul") ? "#1f77b4" : "#d62728")
          << "'\n";
    }
    f << "plot " << q << " using 1:2:3:4 with yerrorlines pt 7 lc rgb '#1f77b4' title 'matmul loop (dashed: no limit)', "
      << q << " using 1:5:6:7 with yerrorlines pt 7 lc rgb '#d62728' title "
      << quoted_for_gnuplot(bytes_text(double(info.copy_bytes)) + " copy loop (dashed: no limit)") << "\n"
      << "unset arrow\nset title 'achieved rate / B (target 0.9-1.1)'\nset ylabel 'achieved / B'\n"
      << "set arrow 1 from graph 0, first 0.9 to graph 1, first 0.9 nohead dashtype 2 lc rgb 'black'\n"
      << "set arrow 2 from graph 0, first 1.1 to graph 1, first 1.1 nohead dashtype 2 lc rgb 'black'\n"
      << "set yrange [0:*]\n"
      << "plot " << q << " using 1:8:9:10 with yerrorlines pt 7 lc rgb '#1f77b4' title 'beside the matmul loop', " << q
      << " using 1:11:12:13 with yerrorlines pt 7 lc rgb '#d62728' title 'beside the copy loop'\n"
      << "unset multiplot\n";
    f.close();
    if (!f) return "cannot write " + script;
    return run_gnuplot(script);
}

} // namespace bench::async
