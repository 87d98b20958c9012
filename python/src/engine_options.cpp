#include "engine_options.hpp"

#include <array>
#include <cstddef>
#include <limits>
#include <string>

namespace py = pybind11;

namespace tilecopy::python {
namespace {

// Options' fields, one keyword each.
constexpr std::array<const char*, 12> kKnown = {
    "threads", "numa", "numa_node", "kernel", "tile_bytes", "block_bytes", "inline_threshold",
    "nontemporal_threshold", "linger_us", "pin_threads", "topology_synthetic", "topology_xml"};
constexpr const char* kKeywords =
    "threads, numa, numa_node, kernel, tile_bytes, block_bytes, inline_threshold, nontemporal_threshold, "
    "linger_us, pin_threads, topology_synthetic, topology_xml";

bool known_keyword(const std::string& key) {
    for (const char* k : kKnown)
        if (key == k) return true;
    return false;
}

[[noreturn]] void type_error(const std::string& key, const char* expected, py::handle value) {
    throw py::type_error("tilecopy.Engine: " + key + " must be " + expected + ", not " +
                         std::string(py::str(py::type::handle_of(value).attr("__name__"))));
}

// A non-negative int (bool refused: True is an int to Python, never a size to us).
std::size_t size_value(const std::string& key, py::handle value) {
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr())) type_error(key, "an int or None", value);
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow < 0 || (overflow == 0 && v < 0))
        throw py::value_error("tilecopy.Engine: " + key + " must be >= 0, got " + std::string(py::repr(value)));
    if (overflow > 0 || static_cast<unsigned long long>(v) > std::numeric_limits<std::size_t>::max())
        throw py::value_error("tilecopy.Engine: " + key + " is too large: " + std::string(py::repr(value)));
    return static_cast<std::size_t>(v);
}

std::string string_value(const std::string& key, py::handle value) {
    if (!PyUnicode_Check(value.ptr())) type_error(key, "a str or None", value);
    return value.cast<std::string>();
}

NumaPolicy policy_value(py::handle value) {
    const std::string text = string_value("numa", value);
    for (NumaPolicy p : {NumaPolicy::Auto, NumaPolicy::Interleave, NumaPolicy::Node, NumaPolicy::Off})
        if (text == numa_policy_name(p)) return p; // the node itself is numa_node=
    throw py::value_error("tilecopy.Engine: numa must be 'auto', 'interleave', 'node' or 'off', got " +
                          std::string(py::repr(value)));
}

} // namespace

Options options_from_kwargs(const py::kwargs& kwargs) {
    Options o;
    bool node_given = false;
    for (const auto& item : kwargs) {
        const std::string key = py::str(item.first);
        const py::handle value = item.second;
        if (!known_keyword(key))
            throw py::type_error("tilecopy.Engine: unknown option '" + key + "' (options: " + kKeywords + ")");
        if (value.is_none()) continue; // the default
        if (key == "threads") {
            o.threads = size_value(key, value);
        } else if (key == "numa") {
            o.numa = policy_value(value);
        } else if (key == "numa_node") {
            const std::size_t node = size_value(key, value);
            if (node > static_cast<std::size_t>(std::numeric_limits<int>::max()))
                throw py::value_error("tilecopy.Engine: numa_node is too large: " + std::string(py::repr(value)));
            o.numa_node = static_cast<int>(node);
            node_given = true;
        } else if (key == "kernel") {
            o.kernel = string_value(key, value);
        } else if (key == "tile_bytes") {
            o.tile_bytes = size_value(key, value);
        } else if (key == "block_bytes") {
            o.block_bytes = size_value(key, value);
        } else if (key == "inline_threshold") {
            o.inline_threshold = size_value(key, value);
        } else if (key == "nontemporal_threshold") {
            if (PyUnicode_Check(value.ptr())) {
                if (value.cast<std::string>() != "never")
                    throw py::value_error("tilecopy.Engine: nontemporal_threshold must be a size in bytes, None or "
                                          "'never', got " + std::string(py::repr(value)));
                o.nontemporal_threshold = std::numeric_limits<std::size_t>::max();
            } else {
                o.nontemporal_threshold = size_value(key, value);
            }
        } else if (key == "linger_us") {
            o.linger_us = size_value(key, value);
        } else if (key == "pin_threads") {
            if (!PyBool_Check(value.ptr())) type_error(key, "a bool or None", value);
            o.pin_threads = value.ptr() == Py_True;
        } else if (key == "topology_synthetic") {
            o.topology_synthetic = string_value(key, value);
        } else if (key == "topology_xml") {
            o.topology_xml = string_value(key, value);
        }
    }
    if (o.numa == NumaPolicy::Node && !node_given)
        throw py::value_error("tilecopy.Engine: numa='node' needs numa_node (an index into the NUMA nodes)");
    if (node_given && o.numa != NumaPolicy::Node)
        throw py::value_error(std::string("tilecopy.Engine: numa_node is only meaningful with numa='node', not numa='") +
                              numa_policy_name(o.numa) + "'");
    return o;
}

py::dict options_to_dict(const Options& o) {
    py::dict d;
    d["threads"] = o.threads;
    d["numa"] = numa_policy_name(o.numa);
    d["numa_node"] = o.numa == NumaPolicy::Node ? py::object(py::int_(o.numa_node)) : py::object(py::none());
    d["kernel"] = o.kernel.empty() ? py::object(py::none()) : py::object(py::str(o.kernel));
    d["tile_bytes"] = o.tile_bytes;
    d["block_bytes"] = o.block_bytes;
    d["inline_threshold"] = o.inline_threshold;
    d["nontemporal_threshold"] = o.nontemporal_threshold == std::numeric_limits<std::size_t>::max()
                                     ? py::object(py::str("never"))
                                     : py::object(py::int_(o.nontemporal_threshold));
    d["linger_us"] = o.linger_us;
    d["pin_threads"] = o.pin_threads;
    d["topology_synthetic"] = o.topology_synthetic.empty() ? py::object(py::none()) : py::object(py::str(o.topology_synthetic));
    d["topology_xml"] = o.topology_xml.empty() ? py::object(py::none()) : py::object(py::str(o.topology_xml));
    return d;
}

} // namespace tilecopy::python
