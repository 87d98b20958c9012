// Host memory: CopyEngine::allocate (alignment, huge-page advice as reported, placement with real
// binding on a synthetic two-node machine, population), prefault and its refusals, advice on
// fresh copy destinations, and the huge-page strategy's decisions. Nothing here asserts what the
// kernel grants: only what tilecopy asked for.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "memory_strategy.hpp"
#include "support.hpp"

using namespace tilecopy;
using detail::HugePageDecision;
using detail::ThpMode;

namespace {

constexpr std::size_t MiB = std::size_t(1) << 20;
constexpr std::size_t GiB = std::size_t(1) << 30;
const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// The VmFlags line of the mapping holding `addr` in /proc/self/smaps ("" when none).
std::string vm_flags(const void* addr) {
    std::ifstream smaps("/proc/self/smaps");
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find('-') < line.find(' ')) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && line.rfind("VmFlags:", 0) == 0) return line;
    }
    return {};
}
bool advised_huge(const void* addr) { return vm_flags(addr).find(" hg") != std::string::npos; }

// Resident pages of [p, p + n) by mincore.
std::size_t resident_pages(const void* p, std::size_t n) {
    std::vector<unsigned char> vec((n + kPage - 1) / kPage);
    if (mincore(const_cast<void*>(p), n, vec.data()) != 0) return std::size_t(-1);
    std::size_t count = 0;
    for (unsigned char v : vec) count += v & 1;
    return count;
}

struct ScopedEnv {
    ScopedEnv(const char* name, const char* value) : name_(name) {
        const char* old = std::getenv(name);
        had_ = old != nullptr;
        if (had_) old_ = old;
        setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (had_)
            setenv(name_, old_.c_str(), 1);
        else
            unsetenv(name_);
    }
    const char* name_;
    bool had_ = false;
    std::string old_;
};

std::size_t no_free_blocks() noexcept { return 0; }
std::size_t plenty_free() noexcept { return std::size_t(64) << 30; }
std::size_t six_mib_free() noexcept { return 6 * MiB; }
std::size_t must_not_ask() noexcept {
    std::abort(); // the decision needs no free-block count here
}

} // namespace

TEST_CASE("allocate returns aligned buffers that copies fill byte-exact, populated now or by the first copy") {
    CopyEngine engine;
    const std::size_t sizes[] = {1, 4095, kPage + 3, 2 * MiB, 3 * MiB + 17};
    for (Populate populate : {Populate::Now, Populate::FirstCopy}) {
        for (std::size_t size : sizes) {
            CAPTURE(size);
            CAPTURE(int(populate));
            AllocOptions options;
            options.populate = populate;
            HostBuffer buffer = engine.allocate(size, options);
            REQUIRE(buffer.data() != nullptr);
            CHECK(buffer.size() == size);
            const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
            CHECK(address % (size >= 2 * MiB ? 2 * MiB : kPage) == 0);
            const std::size_t rounded = (size + kPage - 1) / kPage * kPage;
            const std::size_t present = resident_pages(buffer.data(), rounded);
            if (populate == Populate::Now)
                CHECK(present == rounded / kPage);
            else
                CHECK(present == 0);
            // Fresh memory reads as zeros; a copy into its middle leaves canaries around it.
            auto* bytes = static_cast<unsigned char*>(buffer.data());
            std::vector<unsigned char> zeros(size, 0);
            CHECK(std::memcmp(bytes, zeros.data(), size) == 0);
            if (size < 3) continue;
            std::memset(bytes, test::kCanary, size);
            std::vector<unsigned char> src(size - 2);
            test::fill_pattern(src.data(), src.size(), unsigned(size));
            engine.copy(bytes + 1, src.data(), src.size());
            CHECK(std::memcmp(bytes + 1, src.data(), src.size()) == 0);
            CHECK(bytes[0] == test::kCanary);
            CHECK(bytes[size - 1] == test::kCanary);
        }
    }
    CHECK(engine.allocate(0).data() == nullptr);
}

TEST_CASE("HostBuffer moves its mapping and frees it once") {
    CopyEngine engine;
    HostBuffer a = engine.allocate(3 * kPage);
    void* p = a.data();
    HostBuffer b(std::move(a));
    CHECK(a.data() == nullptr);
    CHECK(a.size() == 0);
    CHECK(b.data() == p);
    HostBuffer c;
    c = std::move(b);
    CHECK(c.data() == p);
    c = HostBuffer();
    CHECK(c.data() == nullptr);
    CHECK(resident_pages(p, kPage) == std::size_t(-1)); // unmapped
}

TEST_CASE("huge-page advice is applied as the policy and the kernel's mode decide, and reported") {
    CopyEngine engine;
    const auto& memory = detail::internals(engine).memory();
    for (HugePages policy : {HugePages::Never, HugePages::Always, HugePages::Auto}) {
        CAPTURE(huge_pages_name(policy));
        AllocOptions options;
        options.huge_pages = policy;
        options.populate = Populate::FirstCopy;
        HostBuffer buffer = engine.allocate(4 * MiB, options);
        CHECK(advised_huge(buffer.data()) == buffer.huge_pages_advised());
        if (policy == HugePages::Never) CHECK_FALSE(buffer.huge_pages_advised());
        const bool thp = !memory.thp.enabled.empty() && memory.thp.enabled != "never";
        if (policy == HugePages::Always) CHECK(buffer.huge_pages_advised() == thp);
        if (!thp) CHECK_FALSE(buffer.huge_pages_advised());
    }
    // Auto never advises a buffer without a whole 2 MiB block.
    AllocOptions small;
    small.huge_pages = HugePages::Auto;
    CHECK_FALSE(engine.allocate(MiB, small).huge_pages_advised());
}

TEST_CASE("the huge-page decision follows the THP mode and the free 2 MiB blocks") {
    const ThpMode madvise{"madvise", "madvise"};
    // Compacting advice: only as far as free blocks go (less an eighth).
    HugePageDecision d = detail::decide_huge_pages(HugePages::Auto, madvise, 64 * MiB, &no_free_blocks);
    CHECK(d.advise_bytes == 0);
    CHECK(d.reason.find("compaction") != std::string::npos);
    d = detail::decide_huge_pages(HugePages::Auto, madvise, 64 * MiB, &plenty_free);
    CHECK(d.advise_bytes == 64 * MiB);
    d = detail::decide_huge_pages(HugePages::Auto, madvise, 64 * MiB, &six_mib_free);
    CHECK(d.advise_bytes == 4 * MiB);
    // Under defer (or never) advice never waits: no need to count free blocks.
    for (const char* defrag : {"defer", "never"}) {
        d = detail::decide_huge_pages(HugePages::Auto, ThpMode{"madvise", defrag}, 64 * MiB, &must_not_ask);
        CHECK(d.advise_bytes == 64 * MiB);
    }
    CHECK(detail::decide_huge_pages(HugePages::Auto, madvise, MiB, &must_not_ask).advise_bytes == 0);
    // THP always gives huge pages unasked: auto adds no compacting advice; always still asks.
    CHECK(detail::decide_huge_pages(HugePages::Auto, ThpMode{"always", "madvise"}, 64 * MiB, &must_not_ask).advise_bytes == 0);
    CHECK(detail::decide_huge_pages(HugePages::Always, madvise, 64 * MiB, &must_not_ask).advise_bytes == 64 * MiB);
    CHECK(detail::decide_huge_pages(HugePages::Always, madvise, kPage, &must_not_ask).advise_bytes == kPage);
    // THP never (or none): nothing, and the reason says why.
    for (const ThpMode& none : {ThpMode{"never", "madvise"}, ThpMode{}}) {
        for (HugePages policy : {HugePages::Auto, HugePages::Always}) {
            d = detail::decide_huge_pages(policy, none, 64 * MiB, &must_not_ask);
            CHECK(d.advise_bytes == 0);
            CHECK(!d.reason.empty());
        }
    }
    CHECK(detail::decide_huge_pages(HugePages::Never, madvise, 64 * MiB, &must_not_ask).advise_bytes == 0);

    detail::MemoryStrategy s = detail::resolve_memory_strategy(Options{}, ThpMode{"never", "madvise"}, nullptr, nullptr);
    CHECK(detail::huge_pages_plan(s).find("never") != std::string::npos);
    CHECK(detail::huge_pages_plan(s).find("no buffer gets huge pages") != std::string::npos);
    // Under THP never a copy does not even look at its destination.
    CHECK_FALSE(detail::fresh_advice_candidate(s, std::size_t(1) << 30));
    s = detail::resolve_memory_strategy(Options{}, madvise, nullptr, nullptr);
    CHECK(detail::fresh_advice_candidate(s, 4 * MiB));
    CHECK_FALSE(detail::fresh_advice_candidate(s, 4 * MiB - 1));
    Options off;
    off.fresh_destinations = HugePages::Never;
    CHECK_FALSE(detail::fresh_advice_candidate(detail::resolve_memory_strategy(off, madvise, nullptr, nullptr), GiB));
}

TEST_CASE("the kernel's THP settings and free blocks are read from their text") {
    CHECK(detail::bracketed("always [madvise] never\n") == "madvise");
    CHECK(detail::bracketed("always defer defer+madvise [madvise] never") == "madvise");
    CHECK(detail::bracketed("[never]") == "never");
    CHECK(detail::bracketed("nothing") == "");
    const std::string buddy = "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3\n"
                              "Node 0, zone   Normal  46190  37518  22577  11739   5562   4567   2263    395     28      0     24\n";
    // Orders 9 and 10 (2 and 4 MiB) count: DMA 1*2 + 3*4, Normal 0*2 + 24*4 MiB.
    CHECK(detail::free_huge_bytes_of(buddy, 4096) == (2 + 12 + 96) * MiB);
    CHECK(detail::free_huge_bytes_of("", 4096) == 0);
}

TEST_CASE("huge-page policies come from Options, else the environment, and bad names are refused") {
    CHECK(parse_huge_pages("auto") == HugePages::Auto);
    CHECK(parse_huge_pages("always") == HugePages::Always);
    CHECK(parse_huge_pages("never") == HugePages::Never);
    for (const char* bad : {"", "Auto", "sometimes", "default"}) {
        CAPTURE(bad);
        try {
            parse_huge_pages(bad);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(std::string(e.what()).find(std::string("'") + bad + "'") != std::string::npos);
        }
    }
    {
        ScopedEnv env("TILECOPY_HUGEPAGES", "always");
        CopyEngine engine;
        const EngineInfo info = engine.info();
        CHECK(info.huge_pages == "always");
        CHECK(info.huge_pages_origin == "environment");
        bool described = false;
        for (const auto& line : engine.describe())
            described |= line.find("huge pages for allocate(): always (environment $TILECOPY_HUGEPAGES)") == 0;
        CHECK(described);
        Options options;
        options.huge_pages = HugePages::Never;
        CHECK(CopyEngine(options).info().huge_pages == "never");
    }
    {
        ScopedEnv env("TILECOPY_HUGEPAGES", "sometimes");
        CHECK_THROWS_WITH_AS(CopyEngine(), doctest::Contains("$TILECOPY_HUGEPAGES='sometimes'"), Error);
    }
    {
        ScopedEnv env("TILECOPY_FRESH_HUGEPAGES", "huge");
        CHECK_THROWS_WITH_AS(CopyEngine(), doctest::Contains("$TILECOPY_FRESH_HUGEPAGES='huge'"), Error);
    }
    const EngineInfo info = CopyEngine().info();
    CHECK(info.huge_pages == "auto");
    CHECK(info.huge_pages_origin == "fallback");
    bool thp_line = false;
    for (const auto& line : info.describe) thp_line |= line.rfind("transparent huge pages: ", 0) == 0;
    CHECK(thp_line);
}

namespace {

// get_mempolicy(2) for the page at `addr`: the mode (MPOL_BIND 2, MPOL_INTERLEAVE 3,
// MPOL_PREFERRED_MANY 5) and the node mask's first word.
bool area_policy(const void* addr, int& mode, unsigned long& mask) {
    unsigned long masks[16] = {};
    mode = -1;
    if (syscall(SYS_get_mempolicy, &mode, masks, 1024UL, addr, 2UL /* MPOL_F_ADDR */) != 0) return false;
    mask = masks[0];
    return true;
}

} // namespace

TEST_CASE("placement binds buffers on a synthetic two-node machine whose binding is real") {
    // From hwloc's environment: a topology named through Options is never this machine.
    ScopedEnv real("HWLOC_THISSYSTEM", "1");
    ScopedEnv two("HWLOC_SYNTHETIC", "pack:2 [numa] core:1 pu:1");
    CopyEngine engine;
    const auto& topology = detail::internals(engine).scheduler().topology();
    REQUIRE(topology.nodes().size() == 2);

    AllocOptions on0;
    on0.placement = Placement::Node;
    on0.node = 0;
    HostBuffer zero = engine.allocate(4 * MiB + 5, on0);
    CHECK(zero.bound());
    int mode = 0;
    unsigned long mask = 0;
    if (area_policy(zero.data(), mode, mask)) {
        // hwloc binds without HWLOC_MEMBIND_STRICT: a preference for the node where the kernel
        // has MPOL_PREFERRED_MANY (so a full node falls back rather than fails), else MPOL_BIND.
        CHECK((mode == 2 || mode == 5));
        CHECK(mask == 1);
    }
    CHECK(topology.node_of(zero.data()) == 0); // populated now, on node 0
    // prefault runs each block on the arena of the node holding its pages.
    std::memset(zero.data(), 3, 100);
    engine.prefault(zero.data(), zero.size());
    CHECK(static_cast<unsigned char*>(zero.data())[99] == 3);
    CHECK(resident_pages(zero.data(), 4 * MiB) == 4 * MiB / kPage);

    AllocOptions interleave;
    interleave.placement = Placement::Interleave;
    HostBuffer spread = engine.allocate(4 * MiB, interleave);
    CHECK(spread.bound());
    if (area_policy(spread.data(), mode, mask)) CHECK(mode == 3);

    // Node 1 exists on a two-node host; on a one-node host the kernel refuses the binding
    // (EINVAL) and nothing is left mapped.
    AllocOptions on1 = on0;
    on1.node = 1;
    long nodes_here = 0;
    for (int n = 0; n < 64; ++n)
        nodes_here += access(("/sys/devices/system/node/node" + std::to_string(n)).c_str(), F_OK) == 0;
    if (nodes_here >= 2) {
        HostBuffer one = engine.allocate(2 * MiB, on1);
        CHECK(one.bound());
        CHECK(topology.node_of(one.data()) == 1);
    } else {
        CHECK_THROWS_WITH_AS(engine.allocate(2 * MiB, on1), doctest::Contains("binding to node 1 failed: errno EINVAL"),
                             Error);
    }
    AllocOptions bad = on0;
    bad.node = 2;
    CHECK_THROWS_WITH_AS(engine.allocate(MiB, bad), doctest::Contains("AllocOptions::node 2 is not a node"), Error);
}

TEST_CASE("placement on a described machine that is not this one binds nothing and still allocates") {
    Options options;
    options.topology_synthetic = "pack:2 [numa] core:1 pu:1";
    CopyEngine engine(options);
    for (Placement placement : {Placement::Node, Placement::Interleave, Placement::Copier, Placement::Default}) {
        AllocOptions o;
        o.placement = placement;
        o.node = 1;
        HostBuffer buffer = engine.allocate(2 * MiB, o);
        CHECK_FALSE(buffer.bound());
        // Populated now, except Copier's: its pages are the first copy's.
        CHECK(resident_pages(buffer.data(), 2 * MiB) == (placement == Placement::Copier ? 0 : 2 * MiB / kPage));
    }
}

TEST_CASE("buffers outlive their engine and work in a forked child") {
    HostBuffer buffer;
    std::vector<unsigned char> pattern(3 * MiB);
    test::fill_pattern(pattern.data(), pattern.size(), 7);
    {
        CopyEngine engine;
        buffer = engine.allocate(pattern.size());
        engine.copy(buffer.data(), pattern.data(), pattern.size());
    }
    CHECK(std::memcmp(buffer.data(), pattern.data(), pattern.size()) == 0);

    CopyEngine engine;
    HostBuffer shared = engine.allocate(pattern.size());
    engine.copy(shared.data(), pattern.data(), pattern.size());
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        bool ok = std::memcmp(shared.data(), pattern.data(), pattern.size()) == 0 &&
                  std::memcmp(buffer.data(), pattern.data(), pattern.size()) == 0;
        // The parent's engine runs serially here: allocate, prefault and copy still work.
        HostBuffer mine = engine.allocate(pattern.size());
        engine.prefault(shared.data(), shared.size());
        engine.copy(mine.data(), shared.data(), pattern.size());
        ok = ok && std::memcmp(mine.data(), pattern.data(), pattern.size()) == 0;
        shared = HostBuffer();
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(std::memcmp(shared.data(), pattern.data(), pattern.size()) == 0);
}

TEST_CASE("prefault makes pages present and keeps their contents") {
    CopyEngine engine;
    const std::size_t bytes = 5 * MiB + 123;
    char* p = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(p != MAP_FAILED);
    std::memset(p + 3 * MiB, 0x5A, kPage); // one page written, the others never touched
    engine.prefault(p + 1, bytes - 1);
    CHECK(resident_pages(p, bytes) == (bytes + kPage - 1) / kPage);
    CHECK(static_cast<unsigned char>(p[3 * MiB + 17]) == 0x5A);
    CHECK(p[17] == 0);
    munmap(p, bytes);

    // A mapped file: read population for the source; writing is refused.
    char name[] = "/tmp/tilecopy-test-prefault-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    unlink(name);
    std::vector<unsigned char> content(MiB + 100);
    test::fill_pattern(content.data(), content.size(), 3);
    REQUIRE(write(fd, content.data(), content.size()) == ssize_t(content.size()));
    void* file = mmap(nullptr, content.size(), PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(file != MAP_FAILED);
    engine.prefault(file, content.size(), false);
    CHECK(resident_pages(file, content.size()) == (content.size() + kPage - 1) / kPage);
    CHECK(std::memcmp(file, content.data(), content.size()) == 0);
    CHECK_THROWS_WITH_AS(engine.prefault(file, content.size(), true), doctest::Contains("is not writable"), Error);
    munmap(file, content.size());
    close(fd);
}

TEST_CASE("prefault refuses a null, unmapped or read-only range naming it, and populates nothing") {
    CopyEngine engine;
    CHECK_THROWS_WITH_AS(engine.prefault(nullptr, 10), doctest::Contains("null pointer"), Error);
    engine.prefault(nullptr, 0); // nothing asked

    char* p = static_cast<char*>(mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(p != MAP_FAILED);
    REQUIRE(munmap(p + 2 * kPage, kPage) == 0); // a hole at page 2
    char hole[64];
    std::snprintf(hole, sizeof hole, "[%p, %p) is not mapped (errno ENOMEM", static_cast<void*>(p + 2 * kPage),
                  static_cast<void*>(p + 3 * kPage));
    for (bool for_write : {true, false}) {
        CHECK_THROWS_WITH_AS(engine.prefault(p, 4 * kPage, for_write), doctest::Contains(hole), Error);
        CHECK(resident_pages(p, 2 * kPage) == 0); // the pages before the hole stay untouched
    }
    // A range that ends in the hole.
    CHECK_THROWS_WITH_AS(engine.prefault(p + kPage, 2 * kPage), doctest::Contains(hole), Error);
    munmap(p, 4 * kPage);

    char* ro = static_cast<char*>(mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(ro != MAP_FAILED);
    REQUIRE(mprotect(ro + kPage, 2 * kPage, PROT_READ) == 0);
    char readonly[80];
    std::snprintf(readonly, sizeof readonly, "[%p, %p) is not writable (errno EFAULT", static_cast<void*>(ro + kPage),
                  static_cast<void*>(ro + 3 * kPage));
    CHECK_THROWS_WITH_AS(engine.prefault(ro, 3 * kPage, true), doctest::Contains(readonly), Error);
    CHECK(resident_pages(ro, 3 * kPage) == 0);
    engine.prefault(ro, 3 * kPage, false); // reading is allowed
    REQUIRE(mprotect(ro, kPage, PROT_NONE) == 0);
    CHECK_THROWS_WITH_AS(engine.prefault(ro, kPage, false), doctest::Contains("is not readable"), Error);
    munmap(ro, 3 * kPage);
}

TEST_CASE("fresh destinations get huge-page advice on their never-touched interior as the option says") {
    for (HugePages policy : {HugePages::Always, HugePages::Never}) {
        CAPTURE(huge_pages_name(policy));
        Options options;
        options.fresh_destinations = policy;
        CopyEngine engine(options);
        const ThpMode& thp = detail::internals(engine).memory().thp;
        const bool thp_on = !thp.enabled.empty() && thp.enabled != "never";
        const std::size_t bytes = 6 * MiB + 300;
        std::vector<unsigned char> src(bytes);
        test::fill_pattern(src.data(), bytes, 11);
        for (bool warm : {false, true}) {
            CAPTURE(warm);
            const std::size_t map_bytes = bytes + 4 * MiB;
            char* map = static_cast<char*>(
                mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
            REQUIRE(map != MAP_FAILED);
            // The destination starts 100 bytes past a 2 MiB boundary: its interior starts at the next.
            char* dst = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(map) + 2 * MiB - 1) / (2 * MiB) * (2 * MiB)) + 100;
            if (warm) std::memset(dst, 0, bytes);
            dst[-1] = char(test::kCanary);
            dst[bytes] = char(test::kCanary);
            engine.copy(dst, src.data(), bytes);
            CHECK(std::memcmp(dst, src.data(), bytes) == 0);
            CHECK(dst[-1] == char(test::kCanary));
            CHECK(dst[bytes] == char(test::kCanary));
            char* interior = dst - 100 + 2 * MiB;
            CHECK(advised_huge(interior) == (policy == HugePages::Always && !warm && thp_on));
            munmap(map, map_bytes);
        }
    }
}

TEST_CASE("the clone pool's size comes from Options, else the environment, else an eighth of memory") {
    const ThpMode madvise{"madvise", "madvise"};
    detail::MemoryStrategy s = detail::resolve_memory_strategy(Options{}, madvise, nullptr, nullptr, nullptr, 8 * GiB);
    CHECK(s.clone_pool_bytes.value == GiB);
    CHECK(s.clone_pool_bytes.origin == detail::Origin::Fallback);
    s = detail::resolve_memory_strategy(Options{}, madvise, nullptr, nullptr, "512M", 8 * GiB);
    CHECK(s.clone_pool_bytes.value == 512 * MiB);
    CHECK(s.clone_pool_bytes.origin == detail::Origin::Environment);
    Options off;
    off.clone_pool_bytes = 0;
    s = detail::resolve_memory_strategy(off, madvise, nullptr, nullptr, "512M", 8 * GiB);
    CHECK(s.clone_pool_bytes.value == 0);
    CHECK(s.clone_pool_bytes.origin == detail::Origin::Option);
    CHECK_THROWS_WITH_AS(detail::resolve_memory_strategy(Options{}, madvise, nullptr, nullptr, "lots", GiB),
                         doctest::Contains("$TILECOPY_CLONE_POOL_BYTES='lots'"), Error);
    {
        ScopedEnv env("TILECOPY_CLONE_POOL_BYTES", "3M");
        CopyEngine engine;
        CHECK(engine.pool_stats().limit_bytes == 3 * MiB);
        bool described = false;
        for (const auto& line : engine.describe())
            described |= line.rfind("clone pool: 3 MiB (environment $TILECOPY_CLONE_POOL_BYTES)", 0) == 0;
        CHECK(described);
    }
    const PoolStats fresh = CopyEngine().pool_stats();
    CHECK(fresh.limit_bytes > 0);
    CHECK(fresh.held_buffers == 0);
    CHECK(fresh.reused + fresh.kept + fresh.unmapped + fresh.evicted == 0);
}
