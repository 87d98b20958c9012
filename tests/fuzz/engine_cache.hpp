// Engines for the fuzzers: building one loads the topology and starts arenas (milliseconds),
// far more than an input's copy, so each option combination is built once, on first use, and
// kept for the process. libFuzzer runs inputs on one thread; the table needs no lock.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/tilecopy.hpp>

namespace tilecopy::fuzz {

// The kernels this CPU runs, asked of the library itself (an engine forced to a kernel the
// CPU lacks throws tilecopy::Error).
inline const std::vector<std::string>& supported_kernels() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> found;
        for (const char* name : {"scalar", "avx2", "avx512"}) {
            Options o;
            o.kernel = name;
            o.threads = 1;
            try {
                CopyEngine probe(o);
                found.push_back(name);
            } catch (const Error&) {
            }
        }
        return found;
    }();
    return names;
}

// Option axes, each small: the product stays a few dozen engines even when the fuzzer has
// visited every combination.
constexpr std::size_t kTileChoices[] = {64, 4096, std::size_t(1) << 30};
// The smallest block, and one that is no multiple of a cache line.
constexpr std::size_t kBlockChoices[] = {0, tilecopy::Options::kMinBlockBytes, tilecopy::Options::kMinBlockBytes + 1000};
// 1: every copy runs as blocks on the arenas; 0: the default (copies under 256 KiB inline).
constexpr std::size_t kInlineChoices[] = {1, 0};
constexpr std::size_t kNontemporalChoices[] = {0, 64, std::numeric_limits<std::size_t>::max()};

struct EngineKey {
    std::size_t kernel = 0, tile = 0, block = 0, inline_threshold = 0, nontemporal = 0;

    std::size_t index() const {
        return (((kernel * 3 + tile) * 3 + block) * 2 + inline_threshold) * 3 + nontemporal;
    }
    Options options() const {
        Options o;
        o.kernel = supported_kernels()[kernel];
        o.tile_bytes = kTileChoices[tile];
        o.block_bytes = kBlockChoices[block];
        o.inline_threshold = kInlineChoices[inline_threshold];
        o.nontemporal_threshold = kNontemporalChoices[nontemporal];
        return o;
    }
};

inline CopyEngine& engine_for(const EngineKey& key) {
    static std::vector<std::unique_ptr<CopyEngine>> table(3 * 3 * 3 * 2 * 3);
    std::unique_ptr<CopyEngine>& slot = table[key.index()];
    if (!slot) slot = std::make_unique<CopyEngine>(key.options());
    return *slot;
}

// A finding: print what went wrong and abort, so libFuzzer keeps the input as a crash.
[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "tilecopy fuzz: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

} // namespace tilecopy::fuzz
