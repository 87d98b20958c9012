// What every topology shares, and the one without hwloc (sysconf and the process's affinity).
#include "topology.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tilecopy::detail {

std::size_t system_page_bytes() noexcept {
    const long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? std::size_t(page) : 4096;
}

// "0-3,8" from ascending PU numbers.
std::string list_string(const std::vector<unsigned>& pus) {
    std::string out;
    for (std::size_t i = 0; i < pus.size();) {
        std::size_t j = i;
        while (j + 1 < pus.size() && pus[j + 1] == pus[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(pus[i]);
        if (j > i) out += '-' + std::to_string(pus[j]);
        i = j + 1;
    }
    return out;
}

namespace {

class SysconfTopology final : public Topology {
public:
    SysconfTopology() {
        // The CPUs of this process's affinity; every online one when that cannot be read.
        NumaNode node;
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) == 0)
            for (unsigned c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &set)) node.pus.push_back(c);
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        if (node.pus.empty())
            for (long i = 0; i < std::max(online, 1L); ++i) node.pus.push_back(unsigned(i));
        node.cpuset = list_string(node.pus);
        nodes_.push_back(std::move(node));
        // 0 where sysconf reports none: the strategy says what it assumes instead.
        l2_bytes_ = cache_size(_SC_LEVEL2_CACHE_SIZE);
        llc_bytes_ = cache_size(_SC_LEVEL3_CACHE_SIZE);
        page_bytes_ = system_page_bytes();
    }

    const std::vector<NumaNode>& nodes() const noexcept override { return nodes_; }
    std::size_t l2_bytes() const noexcept override { return l2_bytes_; }
    std::size_t llc_bytes() const noexcept override { return llc_bytes_; }
    std::size_t page_bytes() const noexcept override { return page_bytes_; }
    std::size_t machine_pus() const noexcept override {
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        return online > 0 ? std::size_t(online) : nodes_.front().pus.size();
    }
    int node_of(const void*) const noexcept override { return -1; }
    void page_nodes(const void* const*, std::size_t count, int* nodes) const noexcept override {
        std::fill(nodes, nodes + count, -1);
    }
    bool bind_thread(std::size_t, std::string&) noexcept override { return false; }
    void restore_thread(const std::string&) noexcept override {}
    std::string source() const override {
        return "no hwloc: one node, " + std::to_string(nodes_.front().pus.size()) + " PUs allowed";
    }

private:
    static std::size_t cache_size(int name) noexcept {
        const long size = sysconf(name);
        return size > 0 ? std::size_t(size) : 0;
    }

    std::vector<NumaNode> nodes_;
    std::size_t l2_bytes_ = 0;
    std::size_t llc_bytes_ = 0;
    std::size_t page_bytes_ = 4096;
};


} // namespace

std::shared_ptr<Topology> make_sysconf_topology() { return std::make_shared<SysconfTopology>(); }

int Topology::bind_area(void*, std::size_t, int) noexcept { return ENOSYS; }

std::size_t Topology::machine_pus() const noexcept {
    std::size_t pus = 0;
    for (const auto& n : nodes()) pus += n.pus.size();
    return pus;
}

std::string Topology::allowed_cpuset() const {
    std::vector<unsigned> all;
    for (const auto& n : nodes()) all.insert(all.end(), n.pus.begin(), n.pus.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return list_string(all);
}

} // namespace tilecopy::detail
