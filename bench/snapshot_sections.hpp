// Snapshots of a state_dict (docs/snapshot.md): into the previous snapshot against the engine's
// warm copy of the same tensors, and a first (fresh) snapshot against torch's clone().
#pragma once

#include <cstddef>

#include "sections.hpp"

namespace bench {

// A state_dict of float32 tensors totalling about `bytes` (a few large, many small).
Section snapshot_section(std::size_t bytes, const Context& ctx);

} // namespace bench
