// Which NUMA node runs each block: pure given a Topology (which answers page locations).
#pragma once

#include <tilecopy/options.hpp>

#include "plan.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

// Sets Block::node for every block of the plan (an index into topology.nodes()):
//  - Off: 0 for all; Node: options.numa_node for all;
//  - Interleave: blocks spread over the nodes in turn;
//  - Auto: the node holding the block's destination pages, else its source's, else in turn.
//    A block whose destination spans pages of different nodes is split at the page boundary
//    where the owning node changes (so the plan may gain blocks).
// With one node every block gets 0 and no page location is asked for. Auto asks in bulk
// (Topology::page_nodes) and by sample: at most seven calls per plan (placement.cpp).
void place_blocks(Plan& plan, const Topology& topology, NumaPolicy policy, int node);

} // namespace tilecopy::detail
