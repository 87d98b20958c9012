// Where an hwloc topology's description comes from (Options, hwloc's environment variables, or
// this machine), and whether the loaded topology is this machine's. Topology code only.
#pragma once

#include "config.hpp"

#if defined(TILECOPY_HAVE_HWLOC)
#include <string>

#include <hwloc.h>

#include <tilecopy/options.hpp>

namespace tilecopy::detail {

struct TopologySource {
    std::string label;             // what Topology::source() says, completed by is_this_system()
    bool described = false;        // named through Options
    bool from_environment = false; // $HWLOC_SYNTHETIC or $HWLOC_XMLFILE
    std::string passed_over;       // environment variables hwloc could not take
};

// Points an initialised, not yet loaded topology at its description. Throws Error for a
// description named through Options that hwloc refuses.
TopologySource point_topology_at_source(hwloc_topology_t topology, const Options& options);

// After the load: whether page locations, memory and thread binding are this machine's; also
// completes from.label.
bool is_this_system(hwloc_topology_t topology, TopologySource& from);

} // namespace tilecopy::detail
#endif
