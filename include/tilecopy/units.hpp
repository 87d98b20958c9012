// Byte counts as text: the one grammar of the $TILECOPY_* variables, the machine profile and the
// command lines of tilecopy's tools and benchmark ("64M", "256K", "1G", "4096", "2MiB").
#pragma once

#include <cctype>
#include <cstddef>
#include <limits>
#include <string>

namespace tilecopy {

// A byte count with an optional binary suffix (B, K, M, G, T, with or without "iB", either
// case); false when unparsable or past SIZE_MAX.
inline bool parse_size(const std::string& text, std::size_t& out) noexcept {
    constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
    std::size_t i = 0, v = 0;
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return false;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        const std::size_t d = static_cast<std::size_t>(text[i] - '0');
        if (v > (kMax - d) / 10) return false;
        v = v * 10 + d;
    }
    std::string unit = text.substr(i);
    if (unit.size() == 3 && (unit[1] == 'i' || unit[1] == 'I') && (unit[2] == 'B' || unit[2] == 'b')) unit.resize(1);
    if (unit == "B" || unit == "b") unit.clear();
    int shift = 0;
    if (unit.empty())
        shift = 0;
    else if (unit == "K" || unit == "k")
        shift = 10;
    else if (unit == "M" || unit == "m")
        shift = 20;
    else if (unit == "G" || unit == "g")
        shift = 30;
    else if (unit == "T" || unit == "t")
        shift = 40;
    else
        return false;
    if (shift && v > (kMax >> shift)) return false;
    out = v << shift;
    return true;
}

// The shortest exact form with a binary unit: "256 KiB", "40 MiB", "1000 B".
inline std::string size_text(std::size_t bytes) {
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && bytes >= 1024 && bytes % 1024 == 0) {
        bytes /= 1024;
        ++u;
    }
    return std::to_string(bytes) + " " + units[u];
}

} // namespace tilecopy
