// STUB: replaced by the NUMA work. One node, every online PU, no binding.
#include "topology.hpp"
#include <unistd.h>
namespace tilecopy::detail {
namespace {
class SimpleTopology final : public Topology {
public:
    SimpleTopology() {
        NumaNode n;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < cpus; ++i) n.pus.push_back(unsigned(i));
        n.cpuset = "0-" + std::to_string(cpus - 1);
        nodes_.push_back(n);
    }
    const std::vector<NumaNode>& nodes() const noexcept override { return nodes_; }
    std::size_t l2_bytes() const noexcept override { return 1 << 20; }
    std::size_t llc_bytes() const noexcept override { return 32 << 20; }
    std::size_t page_bytes() const noexcept override { return 4096; }
    int node_of(const void*) const noexcept override { return -1; }
    bool bind_thread(std::size_t, std::string&) noexcept override { return false; }
    void restore_thread(const std::string&) noexcept override {}
    std::string source() const override { return "stub"; }
private:
    std::vector<NumaNode> nodes_;
};
}
std::shared_ptr<Topology> load_topology(const Options&) { return std::make_shared<SimpleTopology>(); }
}
