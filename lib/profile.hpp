// The machine profile: thresholds that tilecopy-tune measured on one machine, kept in a small
// text file that every engine reads once at construction (one open and one read).
//
//     # comments and blank lines are ignored
//     version 1
//     cpu AMD EPYC 9R45 48-Core Processor        (the CPU it was measured on)
//     machine 1 NUMA node, 2 PUs, L2 1 MiB, last-level cache 32 MiB
//     nt_threshold 64M                           (or never)
//     inline_threshold 256K
//     idle_inline_threshold 4M
//     string_copy_threshold 32K
//     block_bytes 256K
//     threads 2
//     linger_us 2000
//
// A profile whose cpu or machine line differs from this machine's is ignored (describe() says
// so); one that cannot be parsed is a tilecopy::Error naming the file and line. The machine
// line counts the whole machine's nodes and PUs, not the process's CPU affinity, so that a
// process pinned to fewer CPUs uses the profile (its threads capped to the CPUs it may use).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "strategy.hpp"

namespace tilecopy::detail {

struct Profile {
    std::string path;
    std::string cpu;
    std::string machine;
    std::optional<std::size_t> nt_threshold; // kNever: never
    std::optional<std::size_t> inline_threshold;      // measured back to back (helpers awake)
    std::optional<std::size_t> idle_inline_threshold; // measured after idleness (helpers asleep)
    std::optional<std::size_t> string_copy_threshold;
    std::optional<std::size_t> block_bytes;
    std::optional<std::size_t> threads;
    std::optional<std::size_t> linger_us;
};

// Parses a profile's text; `path` names it in errors ("PATH:LINE: ...").
Profile parse_profile(const std::string& text, const std::string& path);
// The text parse_profile reads back; `comment` lines (the measurements) go first, each after "# ".
std::string format_profile(const Profile& profile, const std::string& comment = "");

// $TILECOPY_PROFILE, else $XDG_CACHE_HOME/tilecopy/profile, else $HOME/.cache/tilecopy/profile;
// empty when none of them is set.
std::string profile_path();
// The profile at `path`; nullopt when no file is there. Throws tilecopy::Error when it cannot
// be read or parsed.
std::optional<Profile> read_profile(const std::string& path);

// This CPU's model string (CPUID's brand string), and a one-line summary of the topology as
// the strategy sees it: what a profile must match to be used.
std::string cpu_model();
std::string machine_summary(const MachineFacts& facts);

// Reads the profile for an engine on this machine: the profile when it matches, else null, and
// `note` says which (for describe()).
std::optional<Profile> profile_for(const MachineFacts& facts, std::string& note);

} // namespace tilecopy::detail
