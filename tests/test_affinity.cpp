// CPU affinity: an engine's arenas, widths and pinning stay inside the CPUs the process may
// use when the engine is made (sched_setaffinity, taskset, numactl, cgroups): checked in fresh
// processes bound to one CPU, on this machine and on a synthetic two-node machine whose PUs are
// real (HWLOC_THISSYSTEM=1), and on an XML topology that carries its own allowed set.
#include <doctest/doctest.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <mutex>
#include <map>
#include <memory>
#include <set>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <tilecopy/tilecopy.hpp>

#include "config.hpp"
#include "engine.hpp"
#include "fresh_process.hpp"
#include "profile.hpp"
#include "support.hpp"

using namespace tilecopy;
using tilecopy::test::finish_fresh;
using tilecopy::test::in_fresh_process;
using tilecopy::test::passed_fresh;
using tilecopy::test::run_fresh;

namespace {

std::vector<unsigned> affinity() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return {};
    std::vector<unsigned> cpus;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

bool bind_to(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

bool copies_exactly(CopyEngine& engine, std::size_t bytes) {
    tilecopy::test::GuardedBuffer src(bytes), dst(bytes);
    tilecopy::test::fill_pattern(src.data(), bytes, static_cast<std::uint32_t>(bytes));
    engine.copy(dst.data(), src.data(), bytes);
    return std::memcmp(dst.data(), src.data(), bytes) == 0 && dst.canaries_intact();
}

bool describes(const CopyEngine& engine, const std::string& text) {
    for (const auto& line : engine.describe())
        if (line.find(text) != std::string::npos) return true;
    return false;
}

// Unsets hwloc's variables, so that a default engine sees this machine even when the suite
// runs under a synthetic or XML topology; returns those that were set, for restore_env.
std::vector<std::pair<std::string, std::string>> clear_hwloc_env() {
    std::vector<std::pair<std::string, std::string>> saved;
    for (const char* name : {"HWLOC_SYNTHETIC", "HWLOC_XMLFILE", "HWLOC_THISSYSTEM"})
        if (const char* value = std::getenv(name)) saved.emplace_back(name, value), unsetenv(name);
    return saved;
}

void restore_env(const std::vector<std::pair<std::string, std::string>>& saved) {
    for (const auto& [name, value] : saved) setenv(name.c_str(), value.c_str(), 1);
}

// The CPU a fresh process binds itself to: the last one it may use (on a machine of two, not
// CPU 0, which an unrestricted engine would list first).
const char* const kCpuVariable = "TILECOPY_TEST_CPU";

} // namespace

TEST_CASE("an engine in a process bound to one CPU has one thread on that CPU") {
    const char* name = "an engine in a process bound to one CPU has one thread on that CPU";
    if (!in_fresh_process(name)) {
        const auto cpus = affinity();
        REQUIRE(!cpus.empty());
        CHECK(passed_fresh(run_fresh(name, {std::string(kCpuVariable) + "=" + std::to_string(cpus.back())})));
        return;
    }
    const unsigned cpu = unsigned(std::stoul(std::getenv(kCpuVariable)));
    bool ok = bind_to(cpu);
    clear_hwloc_env();
    CopyEngine engine;
    const std::string set = std::to_string(cpu);
    ok = ok && engine.options().threads == 1;
    const auto arenas = detail::internals(engine).scheduler().arenas();
    ok = ok && arenas.size() == 1 && arenas[0].cpuset == set && arenas[0].concurrency == 1;
    ok = ok && describes(engine, "allowed CPUs: " + set + " ");
    ok = ok && describes(engine, "threads: 1 ");
    ok = ok && copies_exactly(engine, (16 << 20) + 3) && copies_exactly(engine, 100);
    CopyHandle h = engine.copy_async(nullptr, nullptr, 0);
    h.wait();
#if defined(TILECOPY_HAVE_HWLOC)
    // Binding to the node or to every allowed CPU stays on the one CPU.
    const auto& topology = detail::internals(engine).scheduler().topology();
    for (std::size_t target : {std::size_t(0), detail::Topology::kAllowedCpus}) {
        std::vector<unsigned> bound;
        std::thread([&] {
            std::string previous;
            auto& t = const_cast<detail::Topology&>(topology);
            if (t.bind_thread(target, previous)) bound = affinity();
            t.restore_thread(previous);
        }).join();
        ok = ok && bound == std::vector<unsigned>{cpu};
    }
#endif
    finish_fresh(ok);
}

#if defined(TILECOPY_HAVE_HWLOC)

TEST_CASE("destroying an engine whose helpers linger restores every worker's binding") {
    const char* name = "destroying an engine whose helpers linger restores every worker's binding";
    if (!in_fresh_process(name)) {
        CHECK(passed_fresh(run_fresh(name)));
        return;
    }
    clear_hwloc_env();
    const auto process = affinity();
    REQUIRE_MESSAGE(process.size() >= 2, "needs two CPUs, so that the engine has a worker thread");
    // Narrow every oneTBB worker to one CPU, so that a binding left behind shows.
    const unsigned narrow = process.back();
    std::mutex mutex;
    std::set<std::thread::id> narrowed;
    std::map<std::thread::id, std::vector<unsigned>> seen;
    auto visit_workers = [&](bool narrow_them) {
        tbb::task_arena marker(int(process.size()));
        const auto caller = std::this_thread::get_id();
        for (int round = 0; round < 50; ++round) {
            marker.execute([&] {
                tbb::parallel_for(0, 32, [&](int) {
                    if (std::this_thread::get_id() != caller) {
                        std::lock_guard<std::mutex> lock(mutex);
                        if (narrow_them && bind_to(narrow)) narrowed.insert(std::this_thread::get_id());
                        seen[std::this_thread::get_id()] = affinity();
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                });
            });
            if (!seen.empty()) return;
        }
    };
    visit_workers(true);
    bool ok = !narrowed.empty();
    Options options;
    options.linger_us = 3000000; // longer than any wait in the destructor used to be
    auto engine = std::make_unique<CopyEngine>(options);
    const std::size_t bytes = std::size_t(16) << 20;
    for (int round = 0; round < 200 && detail::internals(*engine).scheduler().arenas()[0].pinning != "pinned"; ++round)
        ok = ok && copies_exactly(*engine, bytes);
    ok = ok && detail::internals(*engine).scheduler().arenas()[0].pinning == "pinned";
    const auto start = std::chrono::steady_clock::now();
    engine.reset(); // its helpers are lingering, bound to the node, right now
    const auto teardown = std::chrono::steady_clock::now() - start;
    ok = ok && teardown < std::chrono::milliseconds(2500); // told to stop, not waited out
    seen.clear();
    visit_workers(false);
    for (const auto& [id, cpus] : seen)
        ok = ok && cpus == (narrowed.count(id) ? std::vector<unsigned>{narrow} : process);
    finish_fresh(ok && !seen.empty());
}

TEST_CASE("a NUMA node with no allowed CPU gets no arena") {
    const char* name = "a NUMA node with no allowed CPU gets no arena";
    if (!in_fresh_process(name)) {
        // Two synthetic nodes whose PUs 0 and 1 are this machine's CPUs 0 and 1.
        const auto cpus = affinity();
        const bool has0 = std::find(cpus.begin(), cpus.end(), 0u) != cpus.end();
        const bool has1 = std::find(cpus.begin(), cpus.end(), 1u) != cpus.end();
        REQUIRE_MESSAGE((has0 || has1), "the synthetic topology's PUs 0 and 1 must name a CPU this process may use");
        CHECK(passed_fresh(run_fresh(name, {std::string(kCpuVariable) + "=" + (has1 ? "1" : "0"),
                                            "HWLOC_SYNTHETIC=pack:2 [numa] core:1 pu:1", "HWLOC_THISSYSTEM=1"})));
        return;
    }
    const unsigned cpu = unsigned(std::stoul(std::getenv(kCpuVariable)));
    bool ok = bind_to(cpu);
    for (NumaPolicy policy : {NumaPolicy::Auto, NumaPolicy::Interleave, NumaPolicy::Off}) {
        Options options;
        options.numa = policy;
        CopyEngine engine(options);
        const auto& nodes = detail::internals(engine).scheduler().topology().nodes();
        ok = ok && nodes.size() == 1 && nodes[0].pus == std::vector<unsigned>{cpu} && nodes[0].os_index == cpu;
        const auto arenas = detail::internals(engine).scheduler().arenas();
        ok = ok && arenas.size() == 1 && arenas[0].cpuset == std::to_string(cpu) && arenas[0].concurrency == 1;
        ok = ok && engine.options().threads == 1 && describes(engine, "allowed CPUs: " + std::to_string(cpu) + " ");
        ok = ok && copies_exactly(engine, (8 << 20) + 5);
    }
    finish_fresh(ok);
}

TEST_CASE("an XML topology's allowed set limits its nodes and arenas") {
    // Node 0: PUs 0-2, node 1: PU 3; only PUs 1 and 2 are allowed.
    const char* xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc2.dtd">
<topology version="2.0">
 <object type="Machine" os_index="0" cpuset="0xf" complete_cpuset="0xf" allowed_cpuset="0x6" nodeset="0x3" complete_nodeset="0x3" allowed_nodeset="0x3" gp_index="1">
  <object type="Package" os_index="0" cpuset="0x7" complete_cpuset="0x7" nodeset="0x1" complete_nodeset="0x1" gp_index="2">
   <object type="NUMANode" os_index="0" cpuset="0x7" complete_cpuset="0x7" nodeset="0x1" complete_nodeset="0x1" gp_index="3"/>
   <object type="Core" os_index="0" cpuset="0x1" complete_cpuset="0x1" nodeset="0x1" complete_nodeset="0x1" gp_index="5"><object type="PU" os_index="0" cpuset="0x1" complete_cpuset="0x1" nodeset="0x1" complete_nodeset="0x1" gp_index="6"/></object>
   <object type="Core" os_index="1" cpuset="0x2" complete_cpuset="0x2" nodeset="0x1" complete_nodeset="0x1" gp_index="7"><object type="PU" os_index="1" cpuset="0x2" complete_cpuset="0x2" nodeset="0x1" complete_nodeset="0x1" gp_index="8"/></object>
   <object type="Core" os_index="2" cpuset="0x4" complete_cpuset="0x4" nodeset="0x1" complete_nodeset="0x1" gp_index="9"><object type="PU" os_index="2" cpuset="0x4" complete_cpuset="0x4" nodeset="0x1" complete_nodeset="0x1" gp_index="10"/></object>
  </object>
  <object type="Package" os_index="1" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="11">
   <object type="NUMANode" os_index="1" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="12"/>
   <object type="Core" os_index="3" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="14"><object type="PU" os_index="3" cpuset="0x8" complete_cpuset="0x8" nodeset="0x2" complete_nodeset="0x2" gp_index="15"/></object>
  </object>
 </object>
</topology>
)";
    const auto path = std::filesystem::temp_directory_path() / ("tilecopy-allowed-" + std::to_string(getpid()) + ".xml");
    std::ofstream(path) << xml;
    Options options;
    options.topology_xml = path.string();
    auto topology = detail::load_topology(options);
    CopyEngine engine(options, topology);
    std::filesystem::remove(path);

    REQUIRE(topology->nodes().size() == 1);
    CHECK(topology->nodes()[0].os_index == 0);
    CHECK(topology->nodes()[0].pus == std::vector<unsigned>{1, 2});
    CHECK(topology->nodes()[0].cpuset == "1-2");
    CHECK(topology->allowed_cpuset() == "1-2");
    CHECK(engine.options().threads == 2);
    const auto arenas = detail::internals(engine).scheduler().arenas();
    REQUIRE(arenas.size() == 1);
    CHECK(arenas[0].cpuset == "1-2");
    CHECK(arenas[0].concurrency == 2);
    CHECK(describes(engine, "allowed CPUs: 1-2 "));
}

TEST_CASE("over several arenas the thread count is the total, the caller's thread included") {
    Options options;
    options.topology_synthetic = "pack:2 [numa] core:1 pu:1";
    options.threads = 3; // two CPUs: capped to them, the caller and one helper
    {
        detail::Scheduler scheduler(detail::load_topology(options), options);
        const auto arenas = scheduler.arenas();
        REQUIRE(arenas.size() == 2);
        CHECK(arenas[0].concurrency == 1);
        CHECK(arenas[0].pinning == "not yet (no worker has run)");
        CHECK(arenas[1].concurrency == 0);
        CHECK(arenas[1].pinning == "nothing to pin (no worker threads)");
        CHECK(scheduler.total_concurrency() == 2);
    }
    options.threads = 1; // the caller alone: no worker starts on either node
    detail::Scheduler scheduler(detail::load_topology(options), options);
    for (const auto& arena : scheduler.arenas()) {
        CHECK(arena.concurrency == 0);
        CHECK(arena.pinning == "nothing to pin (no worker threads)");
    }
    CHECK(scheduler.total_concurrency() == 1);
}

TEST_CASE("the options report the threads in use and never more than the process may use") {
    const char* name = "the options report the threads in use and never more than the process may use";
    if (!in_fresh_process(name)) {
        CHECK(passed_fresh(run_fresh(name, {"TILECOPY_THREADS=65536"})));
        return;
    }
    clear_hwloc_env();
    CopyEngine engine;
    const std::size_t cpus = affinity().size();
    bool ok = engine.options().threads == cpus && engine.info().threads == cpus;
    ok = ok && describes(engine, "threads: " + std::to_string(cpus) + " ");
    const EngineInfo info = engine.info();
    const TunableInfo* threads = find_tunable(info, "threads");
    ok = ok && threads && threads->origin == "environment" &&
         threads->source.find("asked for 65536, capped to the " + std::to_string(cpus)) != std::string::npos;
    finish_fresh(ok);
}

TEST_CASE("a process bound to one CPU uses the profile measured on the whole machine") {
    const char* name = "a process bound to one CPU uses the profile measured on the whole machine";
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("tilecopy-machine-profile-" + std::to_string(getpid()))).string();
    if (!in_fresh_process(name)) {
        const auto cpus = affinity();
        REQUIRE_MESSAGE(cpus.size() >= 2, "needs a process that may use two CPUs or more");
        std::string summary;
        {
            const auto saved = clear_hwloc_env();
            Options o;
            CopyEngine whole(o);
            summary = detail::machine_summary(detail::internals(whole).strategy().facts);
            restore_env(saved);
        }
        std::ofstream(path) << "version 1\ncpu " << detail::cpu_model() << "\nmachine " << summary
                            << "\nblock_bytes 128K\nthreads " << cpus.size() << "\n";
        CHECK(passed_fresh(run_fresh(name, {std::string(kCpuVariable) + "=" + std::to_string(cpus.back()),
                                            "TILECOPY_PROFILE=" + path})));
        std::filesystem::remove(path);
        return;
    }
    clear_hwloc_env();
    bool ok = bind_to(unsigned(std::stoul(std::getenv(kCpuVariable))));
    CopyEngine engine;
    const EngineInfo info = engine.info();
    const TunableInfo* block = find_tunable(info, "block_bytes");
    const TunableInfo* threads = find_tunable(info, "threads");
    ok = ok && info.profile.find("measured on this machine") != std::string::npos;
    ok = ok && block && block->origin == "profile" && block->value == 128 * 1024;
    ok = ok && threads && threads->origin == "profile" && threads->value == 1 && engine.options().threads == 1;
    ok = ok && copies_exactly(engine, (8 << 20) + 5);
    finish_fresh(ok);
}

#endif
