#include "profile.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <tilecopy/error.hpp>

namespace tilecopy::detail {

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::string size_or_never(std::size_t v) {
    if (v == kNever) return "never";
    // Exact and short: 64M rather than 67108864.
    static const char* const suffix[] = {"", "K", "M", "G", "T"};
    int u = 0;
    while (u < 4 && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        ++u;
    }
    return std::to_string(v) + suffix[u];
}

} // namespace

Profile parse_profile(const std::string& text, const std::string& path) {
    Profile p;
    p.path = path;
    bool versioned = false;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line = trim(text.substr(pos, end - pos));
        pos = end + 1;
        ++line_no;
        if (line.empty() || line[0] == '#') continue;
        const std::string where = "tilecopy: profile " + path + ":" + std::to_string(line_no) + ": ";
        const auto space = line.find_first_of(" \t");
        if (space == std::string::npos) throw Error(where + "'" + line + "' is not 'key value'");
        const std::string key = line.substr(0, space);
        const std::string value = trim(line.substr(space));
        if (key == "version") {
            if (value != "1") throw Error(where + "version " + value + " is not one this tilecopy reads (1)");
            versioned = true;
            continue;
        }
        if (key == "cpu") {
            p.cpu = value;
            continue;
        }
        if (key == "machine") {
            p.machine = value;
            continue;
        }
        std::optional<std::size_t>* slot = nullptr;
        if (key == "nt_threshold") slot = &p.nt_threshold;
        else if (key == "inline_threshold") slot = &p.inline_threshold;
        else if (key == "idle_inline_threshold") slot = &p.idle_inline_threshold;
        else if (key == "string_copy_threshold") slot = &p.string_copy_threshold;
        else if (key == "block_bytes") slot = &p.block_bytes;
        else if (key == "threads") slot = &p.threads;
        else if (key == "linger_us") slot = &p.linger_us;
        else throw Error(where + "unknown key '" + key + "'");
        std::size_t v = 0;
        if (key == "nt_threshold" && value == "never")
            v = kNever;
        else if (!parse_size(value, v))
            throw Error(where + key + " '" + value + "' is not a size (e.g. 4096, 256K, 64M" +
                        (key == "nt_threshold" ? ", or never)" : ")"));
        const bool never = key == "nt_threshold" && v == kNever; // the one key with a "never"
        if (!never)
            if (const char* why = out_of_range(key, v)) throw Error(where + key + " " + value + " " + why);
        *slot = v;
    }
    if (!versioned) throw Error("tilecopy: profile " + path + ": no 'version 1' line (not a tilecopy profile?)");
    if (p.cpu.empty() || p.machine.empty())
        throw Error("tilecopy: profile " + path + ": needs 'cpu' and 'machine' lines (the machine it was measured on)");
    return p;
}

std::string format_profile(const Profile& p, const std::string& comment) {
    std::string out = "# tilecopy machine profile, written by tilecopy-tune. Read by every engine on this machine;\n"
                      "# Options fields and $TILECOPY_* variables win over it. Delete it to return to the fallbacks.\n";
    std::size_t pos = 0;
    while (pos < comment.size()) {
        std::size_t end = comment.find('\n', pos);
        if (end == std::string::npos) end = comment.size();
        out += "# " + comment.substr(pos, end - pos) + "\n";
        pos = end + 1;
    }
    out += "version 1\ncpu " + p.cpu + "\nmachine " + p.machine + "\n";
    auto put = [&out](const char* key, const std::optional<std::size_t>& v, bool is_size) {
        if (v) out += std::string(key) + " " + (is_size ? size_or_never(*v) : std::to_string(*v)) + "\n";
    };
    put("nt_threshold", p.nt_threshold, true);
    put("inline_threshold", p.inline_threshold, true);
    put("idle_inline_threshold", p.idle_inline_threshold, true);
    put("string_copy_threshold", p.string_copy_threshold, true);
    put("block_bytes", p.block_bytes, true);
    put("threads", p.threads, false);
    put("linger_us", p.linger_us, false);
    return out;
}

std::string profile_path() {
    if (const char* p = std::getenv("TILECOPY_PROFILE"); p && *p) return p;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') return std::string(x) + "/tilecopy/profile";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tilecopy/profile";
    return "";
}

std::optional<Profile> read_profile(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw Error("tilecopy: profile " + path + ": cannot be read (" + std::strerror(errno) + ")");
    }
    std::string text;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < (std::size_t(1) << 20)) text.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw Error("tilecopy: profile " + path + ": read error");
    if (text.size() >= (std::size_t(1) << 20)) throw Error("tilecopy: profile " + path + ": larger than 1 MiB");
    return parse_profile(text, path);
}

std::string cpu_model() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
        char brand[49] = {};
        for (unsigned leaf = 0; leaf < 3; ++leaf) {
            __get_cpuid(0x80000002u + leaf, &a, &b, &c, &d);
            std::memcpy(brand + leaf * 16, &a, 4);
            std::memcpy(brand + leaf * 16 + 4, &b, 4);
            std::memcpy(brand + leaf * 16 + 8, &c, 4);
            std::memcpy(brand + leaf * 16 + 12, &d, 4);
        }
        const std::string s = trim(brand);
        if (!s.empty()) return s;
    }
#endif
    return "unknown CPU";
}

std::string machine_summary(const MachineFacts& f) {
    const std::size_t nodes = f.machine_nodes ? f.machine_nodes : f.nodes;
    const std::size_t pus = f.machine_pus ? f.machine_pus : f.pus;
    return std::to_string(nodes) + " NUMA node" + (nodes == 1 ? "" : "s") + ", " + std::to_string(pus) + " PU" +
           (pus == 1 ? "" : "s") + ", L2 " + (f.l2_bytes ? size_text(f.l2_bytes) : "unknown") + ", last-level cache " +
           (f.llc_bytes ? size_text(f.llc_bytes) : "unknown");
}

std::optional<Profile> profile_for(const MachineFacts& facts, std::string& note) {
    const std::string path = profile_path();
    if (path.empty()) {
        note = "no profile ($TILECOPY_PROFILE, $XDG_CACHE_HOME and $HOME unset)";
        return std::nullopt;
    }
    std::optional<Profile> p = read_profile(path);
    if (!p) {
        note = "no profile at " + path + " (tilecopy-tune writes one)";
        return std::nullopt;
    }
    const std::string cpu = cpu_model();
    const std::string machine = machine_summary(facts);
    if (p->cpu != cpu) {
        note = "profile " + path + " ignored: measured on CPU '" + p->cpu + "', this is '" + cpu + "'";
        return std::nullopt;
    }
    if (p->machine != machine) {
        note = "profile " + path + " ignored: measured on '" + p->machine + "', this is '" + machine + "'";
        return std::nullopt;
    }
    note = "profile " + path + " (measured on this machine)";
    return p;
}

} // namespace tilecopy::detail
