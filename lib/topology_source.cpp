// Where an hwloc topology's description comes from (lib/topology_source.hpp).
#include "topology_source.hpp"

#if defined(TILECOPY_HAVE_HWLOC)
#include <cstdlib>

#include <tilecopy/error.hpp>

namespace tilecopy::detail {
namespace {

std::string env_or_empty(const char* name) {
    const char* value = std::getenv(name);
    return value ? std::string(value) : std::string();
}

// What hwloc would take from the environment, set here so that source() names it: unless
// $HWLOC_COMPONENTS, $HWLOC_FSROOT or $HWLOC_CPUID_PATH is set (left to hwloc), the
// description of $HWLOC_SYNTHETIC, else the file of $HWLOC_XMLFILE; one that hwloc cannot
// take is passed over, as hwloc does. Whether the result is this machine is hwloc's answer
// (hwloc_topology_is_thissystem, $HWLOC_THISSYSTEM included).
TopologySource point_at_environment(hwloc_topology_t topology) {
    TopologySource from;
    from.label = "this machine (hwloc " HWLOC_VERSION ")";
    for (const char* name : {"HWLOC_COMPONENTS", "HWLOC_FSROOT", "HWLOC_CPUID_PATH"})
        if (std::getenv(name)) {
            from.label = "this machine (hwloc " HWLOC_VERSION ", as $" + std::string(name) + " directs)";
            return from;
        }
    const std::string synthetic = env_or_empty("HWLOC_SYNTHETIC");
    if (!synthetic.empty()) {
        if (hwloc_topology_set_synthetic(topology, synthetic.c_str()) == 0) {
            from.label = "hwloc synthetic '" + synthetic + "' from $HWLOC_SYNTHETIC";
            from.from_environment = true;
            return from;
        }
        from.passed_over = "; invalid $HWLOC_SYNTHETIC '" + synthetic + "' passed over";
    }
    const std::string xml = env_or_empty("HWLOC_XMLFILE");
    if (!xml.empty()) {
        if (hwloc_topology_set_xml(topology, xml.c_str()) == 0) {
            from.label = "hwloc XML file " + xml + " from $HWLOC_XMLFILE";
            from.from_environment = true;
            return from;
        }
        from.passed_over += "; unreadable $HWLOC_XMLFILE " + xml + " passed over";
    }
    return from;
}

} // namespace

// A topology named through Options is loaded as described, whatever the environment says:
// hwloc's set_synthetic/set_xml already take precedence over $HWLOC_SYNTHETIC and
// $HWLOC_XMLFILE, and is_this_system() says no even where $HWLOC_THISSYSTEM=1 makes hwloc
// call it this machine (hwloc then binds for real and, with
// $HWLOC_THISSYSTEM_ALLOWED_RESOURCES, trims its CPUs to this machine's).
TopologySource point_topology_at_source(hwloc_topology_t topology, const Options& options) {
    TopologySource from;
    if (!options.topology_synthetic.empty()) {
        if (hwloc_topology_set_synthetic(topology, options.topology_synthetic.c_str()) != 0)
            throw Error("tilecopy: invalid hwloc synthetic topology description '" + options.topology_synthetic + "'");
        from.label = "hwloc synthetic '" + options.topology_synthetic + "'";
        from.described = true;
    } else if (!options.topology_xml.empty()) {
        if (hwloc_topology_set_xml(topology, options.topology_xml.c_str()) != 0)
            throw Error("tilecopy: cannot read hwloc XML topology file '" + options.topology_xml + "'");
        from.label = "hwloc XML file " + options.topology_xml;
        from.described = true;
    } else {
        from = point_at_environment(topology);
    }
    return from;
}

bool is_this_system(hwloc_topology_t topology, TopologySource& from) {
    const bool this_system = !from.described && hwloc_topology_is_thissystem(topology) != 0;
    if (from.described) return false;
    if (from.from_environment && this_system)
        from.label += ", taken as this machine ($HWLOC_THISSYSTEM)";
    else if (!from.from_environment && !this_system)
        from.label.insert(0, "not ");
    from.label += from.passed_over;
    return this_system;
}

} // namespace tilecopy::detail
#endif
