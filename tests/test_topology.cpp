// Topology and worker pinning: hwloc's answers on synthetic descriptions, an XML file and this
// machine; the fallback without hwloc; copies over synthetic nodes and failed binding.
#include <doctest/doctest.h>

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <tilecopy/tilecopy.hpp>

#include "config.hpp"
#include "dispatch.hpp"
#include "fake_topology.hpp"
#include "plan.hpp"
#include "schedule.hpp"
#include "support.hpp"
#include "topology.hpp"

using namespace tilecopy::detail;
using tilecopy::Conversion;
using tilecopy::NumaPolicy;
using tilecopy::Options;
using tilecopy::Region;
using tilecopy::test::FakeTopology;

TEST_CASE("an invalid synthetic description or a missing XML file is an error that names it") {
    Options bad;
    bad.topology_synthetic = "pack:2 [numa] frobnicator:3";
    try {
        load_topology(bad);
        FAIL("no error for an invalid synthetic description");
    } catch (const tilecopy::Error& e) {
        CHECK(std::string(e.what()).find("frobnicator:3") != std::string::npos);
    }
    Options missing;
    missing.topology_xml = "/nonexistent/tilecopy-topology.xml";
    try {
        load_topology(missing);
        FAIL("no error for a missing XML file");
    } catch (const tilecopy::Error& e) {
        CHECK(std::string(e.what()).find("/nonexistent/tilecopy-topology.xml") != std::string::npos);
    }
}

TEST_CASE("the environment's topology is used when the options name none") {
    auto topology = load_topology(Options{});
#if !defined(TILECOPY_HAVE_HWLOC)
    CHECK(topology->source() == "no hwloc: one node, " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " PUs");
#else
    if (const char* described = std::getenv("HWLOC_SYNTHETIC")) {
        CHECK(topology->source().find(std::string("'") + described + "' from $HWLOC_SYNTHETIC") != std::string::npos);
        Options same;
        same.topology_synthetic = described;
        // Taken as this machine ($HWLOC_THISSYSTEM=1), only nodes with CPUs this process may use.
        const std::size_t nodes = load_topology(same)->nodes().size();
        if (topology->source().find(", taken as this machine") == std::string::npos)
            CHECK(topology->nodes().size() == nodes);
        else
            CHECK(topology->nodes().size() <= nodes);
    } else if (std::getenv("HWLOC_XMLFILE")) {
        CHECK(topology->source().find("$HWLOC_XMLFILE") != std::string::npos);
    } else { // "not this machine" where $HWLOC_THISSYSTEM=0 says so
        const std::string source = topology->source();
        CHECK((source.find("this machine (hwloc ") == 0 || source.find("not this machine (hwloc ") == 0));
    }
#endif
}

TEST_CASE("copies complete when binding fails, and describe() reports the arena unpinned") {
    auto fake = std::make_shared<FakeTopology>(std::vector<unsigned>{2});
    fake->binding_works = false;
    tilecopy::CopyEngine engine(Options{}, fake);
    const std::size_t size = (4 << 20) + 37;
    tilecopy::test::GuardedBuffer src(size), dst(size, 3);
    tilecopy::test::fill_pattern(src.data(), size, 7);
    for (int round = 0; round < 100 && fake->bind_calls.load() == 0; ++round) {
        std::memset(dst.data(), 0, size);
        engine.copy(dst.data(), src.data(), size);
        REQUIRE(std::memcmp(dst.data(), src.data(), size) == 0);
        REQUIRE(dst.canaries_intact());
    }
    CHECK(fake->bind_calls.load() > 0);
    bool reported = false;
    for (const auto& line : engine.describe())
        if (line.find("arena 0") == 0) reported = line.find("unpinned (binding failed)") != std::string::npos;
    CHECK(reported);
}

#if !defined(TILECOPY_HAVE_HWLOC)

TEST_CASE("without hwloc the topology is one node of every online PU that binds nothing") {
    auto topology = load_topology(Options{});
    REQUIRE(topology->nodes().size() == 1);
    CHECK(topology->nodes()[0].pus.size() == std::size_t(sysconf(_SC_NPROCESSORS_ONLN)));
    // sysconf's sizes, or 0 where it reports none: never a guess (the strategy says what it assumes).
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE), l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    CHECK(topology->l2_bytes() == (l2 > 0 ? std::size_t(l2) : 0));
    CHECK(topology->llc_bytes() == (l3 > 0 ? std::size_t(l3) : 0));
    std::vector<unsigned char> touched(2 * topology->page_bytes(), 1);
    CHECK(topology->node_of(touched.data()) == -1);
    std::string previous;
    CHECK_FALSE(topology->bind_thread(0, previous));
}

#else

namespace {

std::shared_ptr<Topology> synthetic(const std::string& description) {
    Options options;
    options.topology_synthetic = description;
    return load_topology(options);
}

// The topology that `options` give with these hwloc variables set (nullptr: unset), which
// are restored afterwards.
std::shared_ptr<Topology> load_with_env(const Options& options, const std::map<std::string, const char*>& vars) {
    std::map<std::string, std::optional<std::string>> saved;
    for (const auto& [name, value] : vars) {
        const char* old = std::getenv(name.c_str());
        saved[name] = old ? std::optional<std::string>(old) : std::nullopt;
        value ? setenv(name.c_str(), value, 1) : unsetenv(name.c_str());
    }
    auto restore = [&saved] {
        for (const auto& [name, old] : saved) old ? setenv(name.c_str(), old->c_str(), 1) : unsetenv(name.c_str());
    };
    try {
        auto topology = load_topology(options);
        restore();
        return topology;
    } catch (...) {
        restore();
        throw;
    }
}

// This machine's topology even when the suite runs under hwloc's variables.
std::shared_ptr<Topology> this_machine() {
    return load_with_env(Options{}, {{"HWLOC_SYNTHETIC", nullptr}, {"HWLOC_XMLFILE", nullptr}, {"HWLOC_THISSYSTEM", nullptr}});
}

std::vector<unsigned> this_thread_affinity() {
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    std::vector<unsigned> cpus;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

bool set_this_thread_affinity(const std::vector<unsigned>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c : cpus) CPU_SET(c, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

// Runs blocks that sleep, so that sleeping TBB workers wake and take some, and calls
// `on_worker` from every thread other than the caller's.
template <typename Fn>
void run_sleeping_blocks(Scheduler& scheduler, Fn&& on_worker) {
    static char from = 0, to = 0;
    static const Region dummy{&to, &from, 1};
    Plan plan;
    plan.regions = &dummy;
    plan.region_count = 1;
    plan.blocks.assign(64, Block{0, 0, 0, 1, 0});
    plan.tiles.push_back(Tile{0, plan.blocks.size()});
    const auto caller = std::this_thread::get_id();
    scheduler.run(plan, [&](const Block&) noexcept {
        if (std::this_thread::get_id() != caller) on_worker();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
}

std::vector<std::string> supported_kernels() {
    std::vector<std::string> names;
    for (const auto* k : compiled_kernels())
        if (cpu_supports(*k)) names.emplace_back(k->name);
    return names;
}

} // namespace

TEST_CASE("synthetic topologies of one, two and four nodes list each node's PUs") {
    auto one = synthetic("core:2 pu:1");
    REQUIRE(one->nodes().size() == 1);
    CHECK(one->nodes()[0].pus == std::vector<unsigned>{0, 1});
    CHECK(one->nodes()[0].cpuset == "0-1");

    auto two = synthetic("pack:2 [numa] core:1 pu:1");
    REQUIRE(two->nodes().size() == 2);
    CHECK(two->nodes()[0].cpuset == "0");
    CHECK(two->nodes()[1].cpuset == "1");
    CHECK(two->source().find("pack:2 [numa] core:1 pu:1") != std::string::npos);

    auto four = synthetic("pack:4 [numa] core:2 pu:1");
    REQUIRE(four->nodes().size() == 4);
    for (unsigned i = 0; i < 4; ++i) {
        CHECK(four->nodes()[i].os_index == i);
        CHECK(four->nodes()[i].pus == std::vector<unsigned>{2 * i, 2 * i + 1});
        CHECK(four->nodes()[i].cpuset == std::to_string(2 * i) + "-" + std::to_string(2 * i + 1));
    }
}

TEST_CASE("a topology named through the options wins over hwloc's environment variables") {
    // The environment: two nodes taken as this machine, an unreadable XML file behind them.
    std::map<std::string, const char*> env = {{"HWLOC_SYNTHETIC", "pack:2 [numa] core:1 pu:1"},
                                              {"HWLOC_XMLFILE", "/nonexistent/tilecopy-env.xml"},
                                              {"HWLOC_THISSYSTEM", "1"}};
    Options options;
    options.topology_synthetic = "pack:4 [numa] core:1 pu:1";
    auto four = load_with_env(options, env);
    // Every described PU, none left out for lying beyond this process's CPUs...
    REQUIRE(four->nodes().size() == 4);
    CHECK(four->allowed_cpuset() == "0-3");
    CHECK(four->source() == "hwloc synthetic 'pack:4 [numa] core:1 pu:1'");
    // ...and not this machine: no page location, no memory binding, thread binding does nothing.
    const std::size_t page = four->page_bytes();
    void* map = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(map != MAP_FAILED);
    std::memset(map, 1, page);
    CHECK(four->node_of(map) == -1);
    CHECK(four->bind_area(map, page, 3) == ENOSYS);
    munmap(map, page);
    bool bound = false, unchanged = false;
    std::thread([&] {
        cpu_set_t before, during;
        std::string previous;
        bound = sched_getaffinity(0, sizeof before, &before) == 0 && four->bind_thread(3, previous);
        unchanged = sched_getaffinity(0, sizeof during, &during) == 0 && CPU_EQUAL(&before, &during);
        four->restore_thread(previous);
    }).join();
    CHECK(bound);
    CHECK(unchanged);
    // Nothing named: the environment's description before its XML file, then the XML file,
    // passed over (as hwloc does) when unreadable.
    env["HWLOC_THISSYSTEM"] = nullptr;
    CHECK(load_with_env(Options{}, env)->source() == "hwloc synthetic 'pack:2 [numa] core:1 pu:1' from $HWLOC_SYNTHETIC");
    env["HWLOC_SYNTHETIC"] = nullptr;
    const std::string source = load_with_env(Options{}, env)->source();
    CHECK(source.find("this machine (hwloc ") == 0);
    CHECK(source.find("; unreadable $HWLOC_XMLFILE /nonexistent/tilecopy-env.xml passed over") != std::string::npos);
}

TEST_CASE("cache sizes come from the caches above the first PU, and are 0 when none is described") {
    auto cached = synthetic("pack:2 [numa] l3:1(size=8MB) l2:2(size=1MB) core:1 pu:1");
    CHECK(cached->l2_bytes() == 1000000);
    CHECK(cached->llc_bytes() == 8000000);
    auto bare = synthetic("pack:2 [numa] core:1 pu:1");
    CHECK(bare->l2_bytes() == 0);
    CHECK(bare->llc_bytes() == 0);
    CHECK(bare->page_bytes() == std::size_t(sysconf(_SC_PAGESIZE)));
}

TEST_CASE("an uneven XML topology keeps its node sizes and leaves out a memory-only node") {
    // Node 0: PUs 0-2 under a 2 MiB L2; node 1: PU 3; node 2: memory attached to the whole
    // machine (as hwloc shows a CXL expander), which must not get an arena of its own.
    const char* xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc2.dtd">
<topology version="2.0">
 <object type="Machine" os_index="0" cpuset="0xf" complete_cpuset="0xf" allowed_cpuset="0xf" nodeset="0x7" complete_nodeset="0x7" allowed_nodeset="0x7" gp_index="1">
  <object type="NUMANode" os_index="2" cpuset="0xf" complete_cpuset="0xf" nodeset="0x4" complete_nodeset="0x4" gp_index="30"/>
  <object type="Package" os_index="0" cpuset="0x7" complete_cpuset="0x7" nodeset="0x1" complete_nodeset="0x1" gp_index="2">
   <object type="NUMANode" os_index="0" cpuset="0x7" complete_cpuset="0x7" nodeset="0x1" complete_nodeset="0x1" gp_index="3"/>
   <object type="L2Cache" cpuset="0x7" complete_cpuset="0x7" nodeset="0x1" complete_nodeset="0x1" cache_size="2097152" depth="2" cache_linesize="64" cache_associativity="16" cache_type="0" gp_index="4">
    <object type="Core" os_index="0" cpuset="0x1" complete_cpuset="0x1" nodeset="0x1" complete_nodeset="0x1" gp_index="5"><object type="PU" os_index="0" cpuset="0x1" complete_cpuset="0x1" nodeset="0x1" complete_nodeset="0x1" gp_index="6"/></object>
    <object type="Core" os_index="1" cpuset="0x2" complete_cpuset="0x2" nodeset="0x1" complete_nodeset="0x1" gp_index="7"><object type="PU" os_index="1" cpuset="0x2" complete_cpuset="0x2" nodeset="0x1" complete_nodeset="0x1" gp_index="8"/></object>
    <object type="Core" os_index="2" cpuset="0x4" complete_cpuset="0x4" nodeset="0x1" complete_nodeset="0x1" gp_index="9"><object type="PU" os_index="2" cpuset="0x4" complete_cpuset="0x4" nodeset="0x1" complete_nodeset="0x1" gp_index="10"/></object>
   </object>
  </object>
  <object type="Package" os_index="1" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="11">
   <object type="NUMANode" os_index="1" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="12"/>
   <object type="Core" os_index="3" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="14"><object type="PU" os_index="3" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="15"/></object>
  </object>
 </object>
</topology>
)";
    const auto path = std::filesystem::temp_directory_path() / ("tilecopy-uneven-" + std::to_string(getpid()) + ".xml");
    std::ofstream(path) << xml;
    Options options;
    options.topology_xml = path.string();
    auto topology = load_topology(options);
    // The same file from the environment, named as such.
    CHECK(load_with_env(Options{}, {{"HWLOC_SYNTHETIC", nullptr}, {"HWLOC_XMLFILE", path.c_str()}, {"HWLOC_THISSYSTEM", nullptr}})
              ->source() == "hwloc XML file " + path.string() + " from $HWLOC_XMLFILE");
    std::filesystem::remove(path);

    REQUIRE(topology->nodes().size() == 2);
    CHECK(topology->nodes()[0].pus == std::vector<unsigned>{0, 1, 2});
    CHECK(topology->nodes()[1].pus == std::vector<unsigned>{3});
    CHECK(topology->nodes()[1].os_index == 1);
    CHECK(topology->l2_bytes() == 2097152);
    CHECK(topology->source().find(path.string()) != std::string::npos);

    Scheduler scheduler(topology, options);
    const auto arenas = scheduler.arenas();
    REQUIRE(arenas.size() == 2);
    // 4 threads in all: the caller and 3 helpers dealt out in turn.
    CHECK(arenas[0].concurrency == 2);
    CHECK(arenas[1].concurrency == 1);
    CHECK(scheduler.total_concurrency() == 4);
    CHECK(arenas[0].cpuset == "0-2");
}

TEST_CASE("the scheduler makes one arena per node, and the thread count is the total over them, the caller included") {
    auto four = synthetic("pack:4 [numa] core:2 pu:1");
    Options options;
    {
        // 8 in all: the caller and 7 helpers, dealt out in turn, none past its node's 2 CPUs.
        Scheduler scheduler(four, options);
        const auto arenas = scheduler.arenas();
        REQUIRE(arenas.size() == 4);
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(arenas[i].node == int(i));
            CHECK(arenas[i].concurrency == (i < 3 ? 2 : 1));
            CHECK(arenas[i].cpuset == four->nodes()[i].cpuset);
        }
        CHECK(scheduler.total_concurrency() == 8);
    }
    options.threads = 1;
    {
        // The caller alone: no helper anywhere.
        Scheduler scheduler(four, options);
        for (const auto& arena : scheduler.arenas()) CHECK(arena.concurrency == 0);
        CHECK(scheduler.total_concurrency() == 1);
    }
    options.threads = 3;
    {
        Scheduler scheduler(four, options);
        const auto arenas = scheduler.arenas();
        CHECK(arenas[0].concurrency == 1);
        CHECK(arenas[1].concurrency == 1);
        CHECK(arenas[2].concurrency == 0);
        CHECK(arenas[3].concurrency == 0);
        CHECK(scheduler.total_concurrency() == 3);
    }
    options.threads = 1000; // more than the CPUs: capped to them
    {
        Scheduler scheduler(four, options);
        CHECK(scheduler.total_concurrency() == 8);
    }
    options.threads = 0;
    options.numa = NumaPolicy::Off;
    Scheduler off(four, options);
    REQUIRE(off.arenas().size() == 1);
    CHECK(off.arenas()[0].node == -1);
    CHECK(off.arenas()[0].concurrency == 8);
}

TEST_CASE("bind_thread binds to the node's cpuset and restore_thread brings the old binding back") {
    auto topology = this_machine();
    const auto& node = topology->nodes()[0];
    bool bound = false;
    std::vector<unsigned> narrow{node.pus.back()}, while_bound, after;
    std::string previous;
    std::thread([&] {
        REQUIRE(set_this_thread_affinity(narrow));
        bound = topology->bind_thread(0, previous);
        while_bound = this_thread_affinity();
        topology->restore_thread(previous);
        after = this_thread_affinity();
    }).join();
    CHECK(bound);
    CHECK(while_bound == node.pus);
    CHECK(previous == std::to_string(narrow[0]));
    CHECK(after == narrow);
}

TEST_CASE("workers of a pinned arena run on the node's cpuset; unpinned ones are left alone") {
    auto topology = this_machine();
    const auto& node = topology->nodes()[0];
    REQUIRE_MESSAGE(node.pus.size() >= 2, "needs a node of two PUs, so that its arena has a worker thread");
    const auto process = this_thread_affinity();
    // Narrow every TBB worker to one CPU first, so that both pinning and leaving alone show.
    const std::vector<unsigned> narrow{node.pus.back()};
    std::mutex mutex;
    std::set<std::thread::id> narrowed;
    auto narrow_workers = [&](const std::vector<unsigned>& cpus) {
        tbb::task_arena marker(int(process.size()));
        const auto caller = std::this_thread::get_id();
        for (int round = 0; round < 50; ++round) {
            marker.execute([&] {
                tbb::parallel_for(0, 32, [&](int) {
                    if (std::this_thread::get_id() != caller && set_this_thread_affinity(cpus)) {
                        std::lock_guard<std::mutex> lock(mutex);
                        narrowed.insert(std::this_thread::get_id());
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                });
            });
            if (!narrowed.empty()) return;
        }
    };
    narrow_workers(narrow);
    REQUIRE(!narrowed.empty());

    for (bool pin : {true, false}) {
        CAPTURE(pin);
        Options options;
        options.pin_threads = pin;
        Scheduler scheduler(topology, options);
        std::vector<std::pair<std::thread::id, std::vector<unsigned>>> seen;
        for (int round = 0; round < 50 && seen.empty(); ++round)
            run_sleeping_blocks(scheduler, [&] {
                auto cpus = this_thread_affinity();
                std::lock_guard<std::mutex> lock(mutex);
                seen.emplace_back(std::this_thread::get_id(), std::move(cpus));
            });
        REQUIRE(!seen.empty());
        for (const auto& [id, cpus] : seen)
            CHECK(cpus == (pin ? node.pus : narrowed.count(id) ? narrow : process));
        CHECK(scheduler.arenas()[0].pinning == (pin ? "pinned" : "unpinned (pinning off)"));
    }
    narrowed.clear();
    narrow_workers(process); // give the workers their full affinity back
}

TEST_CASE("node_of finds a touched page on this machine and knows nothing of an untouched one") {
    auto topology = this_machine();
    const std::size_t page = topology->page_bytes();
    void* map = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(map != MAP_FAILED);
    auto* bytes = static_cast<unsigned char*>(map);
    std::memset(bytes, 1, page);
    const int expected = topology->nodes().size() == 1 ? 0 : topology->node_of(bytes);
    CHECK(topology->node_of(bytes) == expected);
    CHECK(topology->node_of(bytes) >= 0);
    CHECK(topology->node_of(bytes + page + 5) == -1);
    munmap(map, 2 * page);
    // A synthetic machine is not this one: hwloc reports every node, so the answer is unknown.
    auto two = synthetic("pack:2 [numa] core:1 pu:1");
    std::vector<unsigned char> touched(page * 2, 1);
    CHECK(two->node_of(touched.data() + page) == -1);
}

TEST_CASE("page_nodes answers many pages at once as node_of does one by one") {
    auto topology = this_machine();
    const std::size_t page = topology->page_bytes();
    void* map = mmap(nullptr, 6 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(map != MAP_FAILED);
    auto* bytes = static_cast<unsigned char*>(map);
    std::memset(bytes, 1, page);            // page 0 touched
    std::memset(bytes + 2 * page, 1, page); // page 2 touched; 1 and 3 never
    REQUIRE(munmap(bytes + 4 * page, 2 * page) == 0); // pages 4 and 5 unmapped
    const void* pages[] = {bytes, bytes + page, bytes + 2 * page + 17, bytes + 3 * page, bytes + 4 * page, bytes + 5 * page};
    int nodes[6] = {7, 7, 7, 7, 7, 7};
    topology->page_nodes(pages, 6, nodes);
    CHECK(nodes[0] >= 0);
    CHECK(nodes[0] == topology->node_of(bytes));
    CHECK(nodes[2] == topology->node_of(bytes + 2 * page));
    if (topology->nodes().size() == 1) CHECK(nodes[2] == 0);
    CHECK(nodes[1] == -1);
    CHECK(nodes[3] == -1);
    CHECK(nodes[4] == -1);
    CHECK(nodes[5] == -1);
    topology->page_nodes(pages, 0, nodes); // nothing asked, nothing written
    CHECK(nodes[1] == -1);

    // A synthetic machine is not this one: every page is unknown...
    Options two_options;
    two_options.topology_synthetic = "pack:2 [numa] core:1 pu:1";
    auto two = load_topology(two_options);
    int synthetic_nodes[3] = {7, 7, 7};
    two->page_nodes(pages, 3, synthetic_nodes);
    for (int node : synthetic_nodes) CHECK(node == -1);
    std::fill(synthetic_nodes, synthetic_nodes + 3, 7);
    // ...and stays so when named through the options, whatever HWLOC_THISSYSTEM says; only
    // the environment's own topology becomes this machine by it: then the kernel answers, in
    // the synthetic description's node numbers.
    const std::map<std::string, const char*> real = {{"HWLOC_SYNTHETIC", "pack:2 [numa] core:1 pu:1"}, {"HWLOC_THISSYSTEM", "1"}};
    load_with_env(two_options, real)->page_nodes(pages, 3, synthetic_nodes);
    for (int node : synthetic_nodes) CHECK(node == -1);
    auto two_here = load_with_env(Options{}, real);
    CHECK(two_here->source() == "hwloc synthetic 'pack:2 [numa] core:1 pu:1' from $HWLOC_SYNTHETIC, taken as this machine ($HWLOC_THISSYSTEM)");
    two_here->page_nodes(pages, 3, synthetic_nodes);
    if (topology->nodes().size() <= 2) { // else the page may sit on a node the description lacks
        CHECK((synthetic_nodes[0] == 0 || synthetic_nodes[0] == 1));
        CHECK((synthetic_nodes[2] == 0 || synthetic_nodes[2] == 1));
    }
    CHECK(synthetic_nodes[1] == -1);
    munmap(bytes, 4 * page);
}

TEST_CASE("copies on two synthetic nodes are byte-exact for every kernel and policy") {
    const std::size_t sizes[] = {1, 100, 4096 + 3, (300 << 10) + 5, (3 << 20) + 17};
    for (const auto& kernel : supported_kernels()) {
        for (int policy = 0; policy < 4; ++policy) {
            Options options;
            options.topology_synthetic = "pack:2 [numa] core:1 pu:1";
            options.kernel = kernel;
            options.numa = static_cast<NumaPolicy>(policy);
            options.numa_node = 1;
            options.nontemporal_threshold = 1 << 20;
            tilecopy::CopyEngine engine(options);
            for (std::size_t size : sizes) {
                CAPTURE(kernel);
                CAPTURE(policy);
                CAPTURE(size);
                tilecopy::test::GuardedBuffer src(size, 5), dst(size, 11);
                tilecopy::test::fill_pattern(src.data(), size, unsigned(size));
                engine.copy(dst.data(), src.data(), size);
                CHECK(std::memcmp(dst.data(), src.data(), size) == 0);
                CHECK(dst.canaries_intact());
            }
        }
    }
}

#endif
