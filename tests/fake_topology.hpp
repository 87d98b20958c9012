// A Topology whose page owners the test chooses (asked one by one or in bulk) and whose binding
// only counts: placement and binding failure are tested without a NUMA machine.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "topology.hpp"

namespace tilecopy::test {

constexpr std::uintptr_t kPage = 4096;

// Nodes with consecutive PUs; page owners chosen by the test; binding that only counts.
class FakeTopology final : public detail::Topology {
public:
    explicit FakeTopology(const std::vector<unsigned>& pus_per_node) {
        unsigned next = 0;
        for (std::size_t i = 0; i < pus_per_node.size(); ++i) {
            detail::NumaNode node;
            node.os_index = unsigned(i);
            for (unsigned p = 0; p < pus_per_node[i]; ++p) node.pus.push_back(next++);
            node.cpuset = std::to_string(node.pus.front()) +
                          (node.pus.size() > 1 ? "-" + std::to_string(node.pus.back()) : "");
            nodes_.push_back(node);
        }
    }
    // Every page touching [begin, begin + bytes) belongs to `node`.
    void own(const void* begin, std::size_t bytes, int node) {
        const auto first = reinterpret_cast<std::uintptr_t>(begin) & ~(kPage - 1);
        for (std::uintptr_t p = first; p < reinterpret_cast<std::uintptr_t>(begin) + bytes; p += kPage) owners[p] = node;
    }
    int owner(const void* addr) const {
        auto it = owners.find(reinterpret_cast<std::uintptr_t>(addr) & ~(kPage - 1));
        return it == owners.end() ? -1 : it->second;
    }

    const std::vector<detail::NumaNode>& nodes() const noexcept override { return nodes_; }
    std::size_t l2_bytes() const noexcept override { return 1 << 20; }
    std::size_t llc_bytes() const noexcept override { return 32 << 20; }
    std::size_t page_bytes() const noexcept override { return kPage; }
    int node_of(const void* addr) const noexcept override {
        queries.fetch_add(1);
        return owner(addr);
    }
    void page_nodes(const void* const* pages, std::size_t count, int* nodes) const noexcept override {
        bulk_queries.fetch_add(1);
        pages_asked.fetch_add(count);
        for (std::size_t i = 0; i < count; ++i) nodes[i] = owner(pages[i]);
    }
    bool bind_thread(std::size_t, std::string& previous) noexcept override {
        bind_calls.fetch_add(1);
        previous = "unchanged";
        return binding_works;
    }
    void restore_thread(const std::string&) noexcept override {}
    std::string source() const override { return "fake"; }

    std::map<std::uintptr_t, int> owners;
    mutable std::atomic<std::size_t> queries{0};      // node_of calls: one system call each on hwloc
    mutable std::atomic<std::size_t> bulk_queries{0}; // page_nodes calls: one system call each
    mutable std::atomic<std::size_t> pages_asked{0};  // pages asked through page_nodes
    std::atomic<std::size_t> bind_calls{0};
    bool binding_works = true;

private:
    std::vector<detail::NumaNode> nodes_;
};
} // namespace tilecopy::test
