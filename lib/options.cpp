// The NUMA policies' and priorities' names, next to their enums' header (tools, bindings and
// describe() use them).
#include <tilecopy/error.hpp>
#include <tilecopy/options.hpp>

#include <algorithm>
#include <string>

namespace tilecopy {

const char* numa_policy_name(NumaPolicy p) noexcept {
    switch (p) {
    case NumaPolicy::Auto: return "auto";
    case NumaPolicy::Interleave: return "interleave";
    case NumaPolicy::Node: return "node";
    case NumaPolicy::Off: return "off";
    }
    return "?";
}

NumaPolicy parse_numa_policy(const std::string& text, int& node) {
    if (text == "auto") return NumaPolicy::Auto;
    if (text == "interleave") return NumaPolicy::Interleave;
    if (text == "off") return NumaPolicy::Off;
    if (text.rfind("node:", 0) == 0) {
        const std::string number = text.substr(5);
        const bool digits = !number.empty() && number.size() <= 9 &&
                            std::all_of(number.begin(), number.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
        if (!digits)
            throw Error("tilecopy: NUMA policy " + text + ": the node must be a non-negative number (node:0, node:1, ...)");
        node = std::stoi(number);
        return NumaPolicy::Node;
    }
    throw Error("tilecopy: NUMA policy " + text + ": expected auto, interleave, off or node:N");
}

const char* priority_name(Priority p) noexcept {
    switch (p) {
    case Priority::Default: return "default";
    case Priority::Foreground: return "foreground";
    case Priority::Background: return "background";
    }
    return "?";
}

Priority parse_priority(const std::string& text) {
    if (text == "foreground") return Priority::Foreground;
    if (text == "background") return Priority::Background;
    throw Error("tilecopy: priority '" + text + "': expected foreground or background");
}

} // namespace tilecopy
