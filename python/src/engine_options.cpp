#include "engine_options.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace py = pybind11;

namespace tilecopy::python {
namespace {

// Options' fields, one keyword each.
constexpr std::array<const char*, 15> kKnown = {
    "threads", "numa", "numa_node", "kernel", "tile_bytes", "block_bytes", "inline_threshold",
    "nontemporal_threshold", "linger_us", "pin_threads", "topology_synthetic", "topology_xml",
    "async_threads", "async_bytes_per_second", "async_priority"};
constexpr const char* kKeywords =
    "threads, numa, numa_node, kernel, tile_bytes, block_bytes, inline_threshold, nontemporal_threshold, "
    "linger_us, pin_threads, topology_synthetic, topology_xml, async_threads, async_bytes_per_second, "
    "async_priority";

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

// A count of threads or bytes per second: an int >= 1 (a float too for a rate: 2.5e9).
std::uint64_t limit_value(const char* call, const char* key, py::handle value, bool rate) {
    const std::string where = std::string(call) + ": " + key;
    if (rate && PyFloat_Check(value.ptr())) {
        const double v = value.cast<double>();
        if (!(v >= 1) || v >= 1.8e19)
            throw py::value_error(where + " must be at least 1 (bytes per second), got " + std::string(py::repr(value)));
        return static_cast<std::uint64_t>(v);
    }
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw py::type_error(where + " must be " + (rate ? "a number" : "an int") + " or None, not " +
                             std::string(py::str(py::type::handle_of(value).attr("__name__"))));
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow < 0 || (overflow == 0 && v < 1))
        throw py::value_error(where + " must be at least 1, got " + std::string(py::repr(value)));
    return overflow > 0 ? std::numeric_limits<std::uint64_t>::max() - 1 : static_cast<std::uint64_t>(v);
}

Priority priority_value(const char* call, const char* key, py::handle value) {
    if (PyUnicode_Check(value.ptr())) {
        const std::string text = value.cast<std::string>();
        if (text == "foreground") return Priority::Foreground;
        if (text == "background") return Priority::Background;
    } else {
        throw py::type_error(std::string(call) + ": " + key + " must be a str or None, not " +
                             std::string(py::str(py::type::handle_of(value).attr("__name__"))));
    }
    throw py::value_error(std::string(call) + ": " + key + " must be 'foreground' or 'background', got " +
                          std::string(py::repr(value)));
}

} // namespace

AsyncOptions async_options(const char* call, py::handle threads, py::handle bytes_per_second, py::handle priority) {
    AsyncOptions a;
    if (!threads.is_none()) {
        a.threads = static_cast<std::size_t>(
            std::min<std::uint64_t>(limit_value(call, "threads", threads, false), AsyncOptions::kAllThreads));
    }
    if (!bytes_per_second.is_none()) a.bytes_per_second = limit_value(call, "bytes_per_second", bytes_per_second, true);
    if (!priority.is_none()) a.priority = priority_value(call, "priority", priority);
    return a;
}

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
        } else if (key == "async_threads") {
            o.async.threads = limit_value("tilecopy.Engine", "async_threads", value, false);
        } else if (key == "async_bytes_per_second") {
            o.async.bytes_per_second = limit_value("tilecopy.Engine", "async_bytes_per_second", value, true);
        } else if (key == "async_priority") {
            o.async.priority = priority_value("tilecopy.Engine", "async_priority", value);
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
    d["async_threads"] = o.async.threads;
    d["async_bytes_per_second"] = o.async.bytes_per_second == AsyncOptions::kUnlimited
                                      ? py::object(py::none())
                                      : py::object(py::int_(o.async.bytes_per_second));
    d["async_priority"] = o.async.priority == Priority::Default ? py::object(py::none())
                                                                : py::object(py::str(priority_name(o.async.priority)));
    return d;
}

} // namespace tilecopy::python
