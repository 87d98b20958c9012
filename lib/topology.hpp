// The machine as tilecopy sees it: NUMA nodes with their cpusets, cache sizes, page
// locations and thread binding. lib/topology.cpp is the only file that includes <hwloc.h>;
// tests subclass Topology to feed chosen page locations.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/options.hpp>

namespace tilecopy::detail {

struct NumaNode {
    unsigned os_index = 0;     // the OS's (or synthetic description's) node number
    std::vector<unsigned> pus; // OS indices of the node's processing units that this process
                               // may use, ascending (never empty)
    std::string cpuset;        // the same as a list string, e.g. "0-3,8"
};

class Topology {
public:
    virtual ~Topology() = default;

    // Passed to bind_thread for "every CPU this process may use".
    static constexpr std::size_t kAllowedCpus = static_cast<std::size_t>(-1);

    // At least one node. Only CPUs this process may use count: those of its CPU affinity when
    // the topology was loaded (sched_setaffinity, taskset, numactl, a cgroup cpuset) that
    // hwloc also allows; a node with none of them is not listed. Without hwloc one node
    // holding the CPUs of the process's affinity.
    virtual const std::vector<NumaNode>& nodes() const noexcept = 0;
    // The whole machine's processing units and NUMA nodes, whatever this process's CPU
    // affinity (what a machine profile is keyed to). By default those of nodes().
    virtual std::size_t machine_pus() const noexcept;
    virtual std::size_t machine_nodes() const noexcept { return nodes().size(); }
    // Per-core L2 and last-level cache sizes in bytes (0 when not reported: never guessed).
    virtual std::size_t l2_bytes() const noexcept = 0;
    virtual std::size_t llc_bytes() const noexcept = 0;
    virtual std::size_t page_bytes() const noexcept = 0;

    // Index into nodes() of the node holding the page at `addr`; -1 when the page was never
    // touched, the location is unknown, or more than one node is reported for it.
    virtual int node_of(const void* addr) const noexcept = 0;
    // node_of for `count` addresses at once: nodes[i] for the page holding pages[i]. One
    // system call for all of them: move_pages(2) costs ~2 us a call, plus ~0.1 us per page
    // (1-2 us when the page tables are cold), so placement asks for its pages in bulk.
    virtual void page_nodes(const void* const* pages, std::size_t count, int* nodes) const noexcept = 0;

    // The CPUs this process may use, as a list string ("0-3,8"): the union of the nodes' PUs.
    virtual std::string allowed_cpuset() const;

    // Binds the calling thread to nodes()[node]'s cpuset (kAllowedCpus: to every allowed
    // CPU), storing its previous binding in `previous` (a list string); false when binding
    // failed (the thread is left as it was).
    virtual bool bind_thread(std::size_t node, std::string& previous) noexcept = 0;
    // Restores a binding stored by bind_thread.
    virtual void restore_thread(const std::string& previous) noexcept = 0;

    // Passed to bind_area for "interleaved over every node".
    static constexpr int kInterleave = -1;
    // Binds the memory of [addr, addr + bytes) (page aligned, not yet touched) to nodes()[node],
    // or interleaves it page by page over every node (kInterleave). 0 on success, else an errno:
    // ENOSYS where the topology is not this machine's (named through Options, or synthetic or
    // XML from the environment without HWLOC_THISSYSTEM=1) or hwloc is absent; the kernel's
    // (EINVAL for a node it lacks).
    virtual int bind_area(void* addr, std::size_t bytes, int node) noexcept;

    // One line for describe(): where the topology came from ("this machine (hwloc 2.9.0)",
    // "hwloc synthetic 'pack:2 [numa] core:1 pu:1'", "hwloc XML file F from $HWLOC_XMLFILE,
    // taken as this machine ($HWLOC_THISSYSTEM)", "no hwloc").
    virtual std::string source() const = 0;
};

// Loads the topology for these options: Options::topology_synthetic / topology_xml (never
// taken as this machine, whatever hwloc's variables say), else $HWLOC_SYNTHETIC /
// $HWLOC_XMLFILE (this machine's where $HWLOC_THISSYSTEM=1), else this machine. Throws
// tilecopy::Error for an invalid description or unreadable file. Without hwloc (build option
// off): one node with every online PU, cache sizes from sysconf.
std::shared_ptr<Topology> load_topology(const Options& options);
// The topology without hwloc (topology_sysconf.cpp), and what both kinds share there.
std::shared_ptr<Topology> make_sysconf_topology();
std::size_t system_page_bytes() noexcept;
std::string list_string(const std::vector<unsigned>& pus); // "0-3,8" from ascending PU numbers

// The kernel's memory settings (topology_memory.cpp; no hwloc): the text of
// /sys/kernel/mm/transparent_hugepage/{enabled,defrag}'s bracketed words, empty where
// unreadable, and the bytes the kernel holds in free blocks of 2 MiB or more (/proc/buddyinfo).
struct ThpMode;
ThpMode read_thp_mode();
std::size_t free_huge_bytes() noexcept;

} // namespace tilecopy::detail
