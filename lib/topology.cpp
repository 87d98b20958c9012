// The only file that talks to hwloc (oneTBB confines it to src/tbbbind/ the same way).
#include "topology.hpp"

#include <sched.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include <tilecopy/error.hpp>

#include "config.hpp"
#include "topology_source.hpp"

#if defined(TILECOPY_HAVE_HWLOC)
#include <hwloc.h>
#endif

namespace tilecopy::detail {
namespace {

#if defined(TILECOPY_HAVE_HWLOC)

// Owns an hwloc bitmap; the topology's own bitmaps are borrowed as hwloc_const_bitmap_t.
struct Bitmap {
    hwloc_bitmap_t bits = hwloc_bitmap_alloc();
    Bitmap() = default;
    Bitmap(const Bitmap&) = delete;
    Bitmap& operator=(const Bitmap&) = delete;
    ~Bitmap() { hwloc_bitmap_free(bits); }
};

std::string bitmap_list(hwloc_const_bitmap_t bits) {
    char* text = nullptr;
    if (hwloc_bitmap_list_asprintf(&text, bits) < 0 || !text) return {};
    std::string out(text);
    std::free(text);
    return out;
}

class HwlocTopology final : public Topology {
public:
    explicit HwlocTopology(const Options& options) {
        if (hwloc_topology_init(&topology_) != 0) throw Error("tilecopy: hwloc cannot initialise a topology");
        try {
            TopologySource from = point_topology_at_source(topology_, options);
            if (hwloc_topology_load(topology_) != 0) throw Error("tilecopy: hwloc cannot load the topology (" + from.label + ")");
            this_system_ = is_this_system(topology_, from);
            source_ = std::move(from.label);
            read_allowed();
            read_nodes();
            read_caches();
        } catch (...) {
            hwloc_topology_destroy(topology_);
            throw;
        }
    }
    ~HwlocTopology() override { hwloc_topology_destroy(topology_); }

    HwlocTopology(const HwlocTopology&) = delete;
    HwlocTopology& operator=(const HwlocTopology&) = delete;

    const std::vector<NumaNode>& nodes() const noexcept override { return nodes_; }
    std::size_t l2_bytes() const noexcept override { return l2_bytes_; }
    std::size_t llc_bytes() const noexcept override { return llc_bytes_; }
    std::size_t page_bytes() const noexcept override { return page_bytes_; }
    std::size_t machine_pus() const noexcept override {
        const int n = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_PU);
        return n > 0 ? std::size_t(n) : Topology::machine_pus();
    }
    std::size_t machine_nodes() const noexcept override {
        const int n = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_NUMANODE);
        return n > 0 ? std::size_t(n) : nodes_.size();
    }

    int node_of(const void* addr) const noexcept override {
        int node = -1;
        page_nodes(&addr, 1, &node);
        return node;
    }

    void page_nodes(const void* const* pages, std::size_t count, int* nodes) const noexcept override {
        if (count == 0) return;
        // A topology that is not this system (named through Options, or synthetic or XML
        // from the environment without HWLOC_THISSYSTEM=1) describes nodes the kernel does not
        // know: every location is unknown.
        if (os_index_to_node_.empty() || !this_system_) {
            std::fill(nodes, nodes + count, -1);
            return;
        }
#if defined(__linux__) && defined(SYS_move_pages)
        // move_pages(2) with no target nodes only reports where each page is (hwloc's
        // get_area_memlocation makes the same call, but per range and as one merged nodeset).
        // The status goes straight into `nodes`: a node number, or -errno for an untouched
        // (ENOENT) or unmapped (EFAULT) page.
        if (syscall(SYS_move_pages, 0, static_cast<unsigned long>(count), const_cast<const void**>(pages), nullptr,
                    nodes, 0) != 0) {
            std::fill(nodes, nodes + count, -1);
            return;
        }
        for (std::size_t i = 0; i < count; ++i) nodes[i] = nodes[i] >= 0 ? index_of(unsigned(nodes[i])) : -1;
#else
        hwloc_bitmap_t nodeset = hwloc_bitmap_alloc();
        for (std::size_t i = 0; i < count; ++i) {
            nodes[i] = -1;
            const auto page = reinterpret_cast<std::uintptr_t>(pages[i]) & ~std::uintptr_t(page_bytes_ - 1);
            if (nodeset &&
                hwloc_get_area_memlocation(topology_, reinterpret_cast<const void*>(page), page_bytes_, nodeset,
                                           HWLOC_MEMBIND_BYNODESET) == 0 &&
                hwloc_bitmap_weight(nodeset) == 1)
                nodes[i] = index_of(unsigned(hwloc_bitmap_first(nodeset)));
        }
        hwloc_bitmap_free(nodeset);
#endif
    }

    bool bind_thread(std::size_t node, std::string& previous) noexcept override {
        if (node >= node_cpusets_.size() && node != kAllowedCpus) return false;
        if (!this_system_) {
            // What hwloc's binding does on a topology that is not this machine: nothing, with
            // success (hwloc may have real binding for a described topology: $HWLOC_THISSYSTEM).
            try {
                previous = bitmap_list(hwloc_topology_get_complete_cpuset(topology_));
            } catch (...) {
                return false;
            }
            return !previous.empty();
        }
        hwloc_const_cpuset_t target = node == kAllowedCpus ? allowed_.bits : node_cpusets_[node]->bits;
        try {
            Bitmap current;
            if (!current.bits || hwloc_get_cpubind(topology_, current.bits, HWLOC_CPUBIND_THREAD) != 0) return false;
            previous = bitmap_list(current.bits);
            if (previous.empty()) return false;
        } catch (...) {
            return false;
        }
        return hwloc_set_cpubind(topology_, target, HWLOC_CPUBIND_THREAD) == 0;
    }

    void restore_thread(const std::string& previous) noexcept override {
        if (previous.empty() || !this_system_) return;
        hwloc_bitmap_t bits = hwloc_bitmap_alloc();
        if (!bits) return;
        if (hwloc_bitmap_list_sscanf(bits, previous.c_str()) == 0 && !hwloc_bitmap_iszero(bits))
            hwloc_set_cpubind(topology_, bits, HWLOC_CPUBIND_THREAD);
        hwloc_bitmap_free(bits);
    }

    std::string source() const override { return source_; }
    std::string allowed_cpuset() const override { return bitmap_list(allowed_.bits); }

    int bind_area(void* addr, std::size_t bytes, int node) noexcept override {
        // A described machine's nodes are not the kernel's: nothing to bind to.
        if (!this_system_) return ENOSYS;
        if (bytes == 0) return 0;
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!set) return ENOMEM;
        hwloc_membind_policy_t policy = HWLOC_MEMBIND_BIND;
        int result = 0;
        if (node == kInterleave) {
            policy = HWLOC_MEMBIND_INTERLEAVE;
            for (const auto& n : node_nodesets_) hwloc_bitmap_or(set, set, n->bits);
        } else if (node >= 0 && static_cast<std::size_t>(node) < node_nodesets_.size()) {
            hwloc_bitmap_copy(set, node_nodesets_[std::size_t(node)]->bits);
        } else {
            result = EINVAL;
        }
        if (result == 0 && hwloc_bitmap_iszero(set)) result = ENOSYS; // no NUMA node reported
        if (result == 0) {
            errno = 0;
            if (hwloc_set_area_membind(topology_, addr, bytes, set, policy, HWLOC_MEMBIND_BYNODESET) != 0)
                result = errno ? errno : EINVAL;
        }
        hwloc_bitmap_free(set);
        return result;
    }

private:
    // The CPUs this process may use: hwloc's allowed set (a cgroup cpuset; hwloc already
    // leaves the others out) within the process's CPU binding (sched_setaffinity, taskset,
    // numactl), when the topology is this machine's. A synthetic or XML topology has only
    // hwloc's allowed set (an XML file may carry one).
    void read_allowed() {
        if (!allowed_.bits) throw std::bad_alloc();
        hwloc_bitmap_copy(allowed_.bits, hwloc_topology_get_allowed_cpuset(topology_));
        hwloc_bitmap_and(allowed_.bits, allowed_.bits, hwloc_topology_get_topology_cpuset(topology_));
        if (this_system_) {
            Bitmap bound;
            if (bound.bits && hwloc_get_cpubind(topology_, bound.bits, HWLOC_CPUBIND_PROCESS) == 0 &&
                hwloc_bitmap_intersects(bound.bits, allowed_.bits))
                hwloc_bitmap_and(allowed_.bits, allowed_.bits, bound.bits);
        }
        if (hwloc_bitmap_iszero(allowed_.bits))
            throw Error("tilecopy: the topology (" + source_ + ") has no CPU this process may use");
    }

    void read_nodes() {
        const int count = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_NUMANODE);
        std::vector<hwloc_obj_t> all;
        for (int i = 0; i < count; ++i)
            if (hwloc_obj_t obj = hwloc_get_obj_by_type(topology_, HWLOC_OBJ_NUMANODE, unsigned(i)); obj && obj->cpuset)
                all.push_back(obj);
        // hwloc 2 gives a node without cores of its own (CXL expander, HBM next to DDR) the
        // cpuset of where it is attached. Such a node gets no arena, so that each PU belongs
        // to one arena: it is the one whose cpuset strictly contains another node's, or equals
        // that of a node with a lower OS index. Its pages are run by the node sharing its
        // cpuset, else their location counts as unknown.
        auto shadowed_by = [&all](hwloc_obj_t node) -> hwloc_obj_t {
            for (hwloc_obj_t other : all) {
                if (other == node || hwloc_bitmap_iszero(other->cpuset)) continue;
                if (hwloc_bitmap_isincluded(other->cpuset, node->cpuset) &&
                    (!hwloc_bitmap_isequal(other->cpuset, node->cpuset) || other->os_index < node->os_index))
                    return other;
            }
            return nullptr;
        };
        for (hwloc_obj_t obj : all) {
            if (hwloc_bitmap_iszero(obj->cpuset) || shadowed_by(obj)) continue;
            // Only the node's CPUs that this process may use; a node with none gets no arena
            // and its pages count as of unknown location.
            auto usable = std::make_unique<Bitmap>();
            if (!usable->bits) throw std::bad_alloc();
            hwloc_bitmap_and(usable->bits, obj->cpuset, allowed_.bits);
            NumaNode node;
            node.os_index = obj->os_index;
            node.pus = pus_of(usable->bits);
            if (node.pus.empty()) continue;
            node.cpuset = bitmap_list(usable->bits);
            os_index_to_node_.emplace_back(obj->os_index, int(nodes_.size()));
            nodes_.push_back(std::move(node));
            node_cpusets_.push_back(std::move(usable));
            node_nodesets_.push_back(nodeset_copy(obj->nodeset));
        }
        for (hwloc_obj_t obj : all) {
            hwloc_obj_t kept = shadowed_by(obj);
            while (kept && shadowed_by(kept)) kept = shadowed_by(kept);
            if (kept && hwloc_bitmap_isequal(kept->cpuset, obj->cpuset) && index_of(kept->os_index) >= 0)
                os_index_to_node_.emplace_back(obj->os_index, index_of(kept->os_index));
        }
        if (nodes_.empty()) {
            auto every = std::make_unique<Bitmap>();
            if (!every->bits) throw std::bad_alloc();
            hwloc_bitmap_copy(every->bits, allowed_.bits);
            NumaNode node;
            node.pus = pus_of(every->bits);
            if (node.pus.empty()) throw Error("tilecopy: the topology (" + source_ + ") has no processing units");
            node.cpuset = bitmap_list(every->bits);
            nodes_.push_back(std::move(node));
            node_cpusets_.push_back(std::move(every));
            node_nodesets_.push_back(nodeset_copy(hwloc_topology_get_topology_nodeset(topology_)));
        }
    }

    static std::unique_ptr<Bitmap> nodeset_copy(hwloc_const_nodeset_t from) {
        auto copy = std::make_unique<Bitmap>();
        if (!copy->bits) throw std::bad_alloc();
        if (from) hwloc_bitmap_copy(copy->bits, from);
        return copy;
    }

    int index_of(unsigned os_index) const noexcept {
        for (const auto& [os, index] : os_index_to_node_)
            if (os == os_index) return index;
        return -1;
    }

    std::vector<unsigned> pus_of(hwloc_const_cpuset_t cpuset) const {
        std::vector<unsigned> pus;
        hwloc_obj_t pu = nullptr;
        while ((pu = hwloc_get_next_obj_inside_cpuset_by_type(topology_, cpuset, HWLOC_OBJ_PU, pu)))
            pus.push_back(pu->os_index);
        std::sort(pus.begin(), pus.end());
        return pus;
    }

    void read_caches() {
        page_bytes_ = system_page_bytes();
        const unsigned first_pu = nodes_.front().pus.front();
        for (hwloc_obj_t obj = hwloc_get_pu_obj_by_os_index(topology_, first_pu); obj; obj = obj->parent) {
            if (!hwloc_obj_type_is_cache(obj->type) || obj->type == HWLOC_OBJ_L1ICACHE ||
                obj->type == HWLOC_OBJ_L2ICACHE || obj->type == HWLOC_OBJ_L3ICACHE)
                continue;
            if (obj->type == HWLOC_OBJ_L2CACHE && l2_bytes_ == 0) l2_bytes_ = std::size_t(obj->attr->cache.size);
            // Walking up, the last data cache seen is the outermost level.
            llc_bytes_ = std::size_t(obj->attr->cache.size);
        }
        if (l2_bytes_ == 0) {
            // The first PU may sit outside every L2 (odd XML files): take the smallest L2.
            const int count = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_L2CACHE);
            for (int i = 0; i < count; ++i) {
                hwloc_obj_t obj = hwloc_get_obj_by_type(topology_, HWLOC_OBJ_L2CACHE, unsigned(i));
                const auto size = std::size_t(obj->attr->cache.size);
                if (size && (l2_bytes_ == 0 || size < l2_bytes_)) l2_bytes_ = size;
            }
        }
    }

    hwloc_topology_t topology_ = nullptr;
    std::vector<NumaNode> nodes_;
    std::vector<std::unique_ptr<Bitmap>> node_cpusets_; // the nodes' allowed CPUs, parallel to nodes_
    std::vector<std::unique_ptr<Bitmap>> node_nodesets_; // the nodes' memory (bind_area), parallel to nodes_
    Bitmap allowed_;                                    // every CPU this process may use
    std::vector<std::pair<unsigned, int>> os_index_to_node_; // node OS index -> index in nodes_
    bool this_system_ = false; // page locations come from the kernel (else they are unknown)
    std::string source_;
    std::size_t l2_bytes_ = 0;
    std::size_t llc_bytes_ = 0;
    std::size_t page_bytes_ = 4096;
};

#endif

} // namespace

std::shared_ptr<Topology> load_topology(const Options& options) {
#if defined(TILECOPY_HAVE_HWLOC)
    return std::make_shared<HwlocTopology>(options);
#else
    if (!options.topology_synthetic.empty() || !options.topology_xml.empty())
        throw Error("tilecopy: a topology description was given (" +
                    (options.topology_synthetic.empty() ? "XML file " + options.topology_xml
                                                        : "synthetic '" + options.topology_synthetic + "'") +
                    ") but tilecopy was built without hwloc");
    return make_sysconf_topology();
#endif
}

} // namespace tilecopy::detail
