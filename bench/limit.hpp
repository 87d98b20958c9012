// The limit row: what the engine's own non-temporal kernel reaches with nothing around it. As
// many persistent threads as the engine has (the caller counted as one), each streaming its
// share of the buffer in one call of the kernel the engine chose: no plan, no blocks, no claims,
// one fence per thread. Threads are created once and woken per call (they spin for the
// engine's linger after each call, then sleep), so a round times copies, not thread creation.
// They keep the process's CPU binding: on one NUMA node the same CPUs the engine binds its
// helpers to (with several nodes the engine also splits by node, the limit does not).
#pragma once

#include "sections.hpp"

namespace bench {

// Adds the "limit (bare NT loop)" variant over `pair` from 64 MiB on, and a note with
// tilecopy / limit and tilecopy forced NT / limit (medians of per-round ratios) when those
// variants are in the section.
void add_limit_variant(Section& section, const std::shared_ptr<BufferPair>& pair, const Context& ctx);

} // namespace bench
