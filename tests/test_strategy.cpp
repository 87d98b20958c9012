// The strategy: where each threshold comes from (Options, environment, profile, fallback), what
// each request gets, the profile file's format and errors, and an engine reading a profile.
// Nothing here depends on this host: machine facts are given, profiles are written by the test.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>
#include <unistd.h>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "fake_topology.hpp"
#include "profile.hpp"
#include "strategy.hpp"
#include "support.hpp"

using namespace tilecopy;
using namespace tilecopy::detail;

namespace {

constexpr std::size_t KiB = 1024, MiB = 1024 * 1024;

MachineFacts facts(std::size_t llc, std::size_t l2 = 1 * MiB, std::size_t pus = 8) {
    MachineFacts f;
    f.l2_bytes = l2;
    f.llc_bytes = llc;
    f.pus = pus;
    f.nodes = 1;
    return f;
}

Profile profile_with(std::size_t nt, std::size_t inline_below, std::size_t block) {
    Profile p;
    p.path = "/test/profile";
    p.cpu = "a CPU";
    p.machine = "a machine";
    p.nt_threshold = nt;
    p.inline_threshold = inline_below;
    p.block_bytes = block;
    p.threads = 3;
    p.linger_us = 500;
    return p;
}

// Sets an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old, had_ = true;
        if (value)
            setenv(name, value, 1);
        else
            unsetenv(name);
    }
    ~ScopedEnv() {
        if (had_)
            setenv(name_, old_.c_str(), 1);
        else
            unsetenv(name_);
    }

private:
    const char* name_;
    std::string old_;
    bool had_ = false;
};

std::string temp_path(const char* tag) {
    return std::string("/tmp/tilecopy-test-") + tag + "-" + std::to_string(::getpid());
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
}

} // namespace

TEST_CASE("without options, environment or profile, the non-temporal threshold is half the reported LLC bounded to 16-64 MiB") {
    const Options o;
    const Environment env;
    CHECK(resolve_strategy(o, env, nullptr, facts(32 * MiB)).nontemporal_threshold.value == 16 * MiB);
    CHECK(resolve_strategy(o, env, nullptr, facts(96 * MiB)).nontemporal_threshold.value == 48 * MiB);
    CHECK(resolve_strategy(o, env, nullptr, facts(508 * MiB)).nontemporal_threshold.value == 64 * MiB);
    CHECK(resolve_strategy(o, env, nullptr, facts(8 * MiB)).nontemporal_threshold.value == 16 * MiB);
    CHECK(resolve_strategy(o, env, nullptr, facts(0)).nontemporal_threshold.value == 32 * MiB);
    const Strategy s = resolve_strategy(o, env, nullptr, facts(508 * MiB, 1 * MiB, 2));
    CHECK(s.nontemporal_threshold.origin == Origin::Fallback);
    CHECK(origin_text(s.nontemporal_threshold) == "fallback: half the last-level cache 508 MiB clamped to 16-64 MiB");
    CHECK(s.block_bytes.value == 256 * KiB);
    CHECK(resolve_strategy(o, env, nullptr, facts(32 * MiB, 64 * MiB)).block_bytes.value == 1 * MiB); // L2 misreported
    CHECK(s.inline_threshold.value == 256 * KiB);
    CHECK(s.threads.value == 2);
    CHECK(s.linger_us.value == 2000);
    CHECK(s.idle_inline_threshold.value == 1 * MiB);
    CHECK(s.string_copy_threshold.value == 32 * KiB);
}

TEST_CASE("the idle inline and string copy thresholds: a given inline threshold or kernel keeps its meaning") {
    Environment env;
    Options o;
    o.inline_threshold = 64 * KiB;
    Strategy s = resolve_strategy(o, env, nullptr, facts(32 * MiB));
    CHECK(s.idle_inline_threshold.value == 64 * KiB); // from 64 KiB on, the helpers: as given
    o.kernel = "scalar";
    s = resolve_strategy(o, env, nullptr, facts(32 * MiB));
    CHECK(s.string_copy_threshold.value == 1); // a forced kernel copies everything
    o.idle_inline_threshold = 32 * KiB;        // below the inline threshold: raised to it
    o.string_copy_threshold = 8 * KiB;
    s = resolve_strategy(o, env, nullptr, facts(32 * MiB));
    CHECK(s.idle_inline_threshold.value == 64 * KiB);
    CHECK(s.string_copy_threshold.value == 8 * KiB);
    CHECK(s.string_copy_threshold.origin == Origin::Option);

    Profile p = profile_with(64 * MiB, 256 * KiB, 256 * KiB);
    p.idle_inline_threshold = 4 * MiB;
    p.string_copy_threshold = 16 * KiB;
    s = resolve_strategy(Options{}, env, &p, facts(32 * MiB));
    CHECK(s.idle_inline_threshold.value == 4 * MiB);
    CHECK(s.idle_inline_threshold.origin == Origin::Profile);
    CHECK(s.string_copy_threshold.value == 16 * KiB);
    env.idle_inline_threshold = "8M";
    env.string_copy_threshold = "2K";
    s = resolve_strategy(Options{}, env, &p, facts(32 * MiB));
    CHECK(s.idle_inline_threshold.value == 8 * MiB);
    CHECK(s.string_copy_threshold.value == 2 * KiB);
    CHECK(s.string_copy_threshold.origin == Origin::Environment);
    env.string_copy_threshold = "lots";
    CHECK_THROWS_WITH_AS(resolve_strategy(Options{}, env, &p, facts(32 * MiB)),
                         doctest::Contains("TILECOPY_STRING_COPY_THRESHOLD"), tilecopy::Error);

    // inline_while_idle: only while the helpers sleep, only below the threshold.
    s = resolve_strategy(Options{}, Environment{}, &p, facts(32 * MiB));
    CHECK(inline_while_idle(s, 1 * MiB, /*helpers_awake=*/false));
    CHECK(!inline_while_idle(s, 1 * MiB, /*helpers_awake=*/true));
    CHECK(!inline_while_idle(s, 4 * MiB, false));
}

TEST_CASE("Options win over the environment, the environment over the profile, the profile over the fallback") {
    const Profile p = profile_with(100 * MiB, 128 * KiB, 512 * KiB);
    Environment env;
    Options o;
    Strategy s = resolve_strategy(o, env, &p, facts(32 * MiB));
    CHECK(s.nontemporal_threshold.value == 100 * MiB);
    CHECK(s.nontemporal_threshold.origin == Origin::Profile);
    CHECK(origin_text(s.nontemporal_threshold) == "profile /test/profile");
    CHECK(s.inline_threshold.value == 128 * KiB);
    CHECK(s.block_bytes.value == 512 * KiB);
    CHECK(s.threads.value == 3);
    CHECK(s.linger_us.value == 500);

    env.nt_threshold = "never";
    env.inline_threshold = "64K";
    env.block_bytes = "1M";
    env.threads = "1";
    env.linger_us = "0";
    s = resolve_strategy(o, env, &p, facts(32 * MiB));
    CHECK(s.nontemporal_threshold.value == kNever);
    CHECK(origin_text(s.nontemporal_threshold) == "environment $TILECOPY_NT_THRESHOLD");
    CHECK(s.inline_threshold.value == 64 * KiB);
    CHECK(s.block_bytes.value == 1 * MiB);
    CHECK(s.threads.value == 1);
    CHECK(s.linger_us.value == 0);
    CHECK(s.linger_us.origin == Origin::Environment);

    o.nontemporal_threshold = 8 * MiB;
    o.inline_threshold = 1;
    o.block_bytes = 4096;
    o.threads = 7;
    o.linger_us = 0;
    s = resolve_strategy(o, env, &p, facts(32 * MiB));
    CHECK(s.nontemporal_threshold.value == 8 * MiB);
    CHECK(origin_text(s.nontemporal_threshold) == "option Options::nontemporal_threshold");
    CHECK(s.inline_threshold.value == 1);
    CHECK(s.block_bytes.value == 4096);
    CHECK(s.threads.value == 7);
    CHECK(s.linger_us.value == 0);
    CHECK(s.linger_us.origin == Origin::Option);
}

TEST_CASE("a bad tunable in the environment is an error naming the variable") {
    const Options o;
    auto fails = [&](Environment env, const char* variable) {
        CHECK_THROWS_WITH_AS(resolve_strategy(o, env, nullptr, facts(32 * MiB)), doctest::Contains(variable), Error);
    };
    Environment e;
    e.nt_threshold = "64Q";
    fails(e, "$TILECOPY_NT_THRESHOLD='64Q'");
    e = {};
    e.nt_threshold = "0";
    fails(e, "TILECOPY_NT_THRESHOLD");
    e = {};
    e.inline_threshold = "lots";
    fails(e, "TILECOPY_INLINE_THRESHOLD");
    e = {};
    e.inline_threshold = "never"; // only the NT threshold takes "never"
    fails(e, "TILECOPY_INLINE_THRESHOLD");
    e = {};
    e.block_bytes = "32";
    fails(e, "TILECOPY_BLOCK_BYTES");
    e = {};
    e.block_bytes = "99999999999999999999999";
    fails(e, "TILECOPY_BLOCK_BYTES");
    e = {};
    e.threads = "0";
    fails(e, "TILECOPY_THREADS");
    e = {};
    e.threads = "2K";
    fails(e, "TILECOPY_THREADS");
    e = {};
    e.linger_us = "-1";
    fails(e, "TILECOPY_LINGER_US");
    e = {};
    e.linger_us = "20000000";
    fails(e, "TILECOPY_LINGER_US");
}

TEST_CASE("sizes parse with binary suffixes and reject the rest") {
    std::size_t v = 0;
    CHECK((parse_size("4096", v) && v == 4096));
    CHECK((parse_size("256K", v) && v == 256 * KiB));
    CHECK((parse_size("64M", v) && v == 64 * MiB));
    CHECK((parse_size("1G", v) && v == 1024 * MiB));
    CHECK((parse_size("2MiB", v) && v == 2 * MiB));
    CHECK((parse_size("7B", v) && v == 7));
    for (const char* bad : {"", "M", "-1", "1.5M", "12 M", "64X", "0x10", "18446744073709551616", "17179869184G"})
        CHECK_MESSAGE(!parse_size(bad, v), bad);
}

TEST_CASE("each request gets inline or parallel, regular or non-temporal stores, and block sizes from the strategy") {
    Options o;
    o.inline_threshold = 256 * KiB;
    o.nontemporal_threshold = 32 * MiB;
    o.block_bytes = 256 * KiB;
    const Strategy s = resolve_strategy(o, Environment{}, nullptr, facts(508 * MiB));

    Decision d = decide(s, 100 * KiB, 2, false);
    CHECK(!d.parallel);
    CHECK(!d.nontemporal);
    d = decide(s, 256 * KiB, 2, false);
    CHECK(d.parallel);
    CHECK(d.threads == 2);
    CHECK(d.block_bytes == 128 * KiB); // smaller than a block per thread: split evenly
    CHECK(d.tail_bytes == 0);          // and not cut finer: too few blocks to gain from it
    CHECK(decide(s, 2 * MiB - 1, 2, false).tail_bytes == 0);
    CHECK(decide(s, 2 * MiB, 2, false).tail_bytes == 16 * KiB); // 4 blocks per thread: guided tail
    d = decide(s, 32 * MiB, 2, false);
    CHECK(d.nontemporal);
    CHECK(d.block_bytes == 256 * KiB);
    CHECK(d.tail_bytes == 16 * KiB);
    CHECK(!decide(s, 32 * MiB - 1, 2, false).nontemporal);
    d = decide(s, 64 * MiB, 2, /*serial=*/true); // a forked child: inline, the store kind still chosen
    CHECK(!d.parallel);
    CHECK(d.nontemporal);
    d = decide(s, 64 * MiB, 1, false);
    CHECK(d.parallel);
    CHECK(d.threads == 1);
    CHECK(decide(s, 200 * KiB, 1, true).block_bytes == 0); // inline: no plan
    Options small = o;
    small.inline_threshold = 1;
    CHECK(decide(resolve_strategy(small, Environment{}, nullptr, facts(0)), 200 * KiB, 16, false).block_bytes == 16 * KiB); // even split, never below 16 KiB
}

TEST_CASE("a profile reads back what was written, and a malformed one names its file and line") {
    Profile p = profile_with(64 * MiB, 256 * KiB, 256 * KiB);
    p.path = "/somewhere/profile";
    const Profile back = parse_profile(format_profile(p, "measured: this and that\nline two"), p.path);
    CHECK(back.cpu == p.cpu);
    CHECK(back.machine == p.machine);
    CHECK(back.nt_threshold == p.nt_threshold);
    CHECK(back.inline_threshold == p.inline_threshold);
    CHECK(back.block_bytes == p.block_bytes);
    CHECK(back.threads == p.threads);
    CHECK(back.linger_us == p.linger_us);
    p.idle_inline_threshold = 8 * MiB;
    p.string_copy_threshold = 32 * KiB;
    const Profile both = parse_profile(format_profile(p), "x");
    CHECK(both.idle_inline_threshold == p.idle_inline_threshold);
    CHECK(both.string_copy_threshold == p.string_copy_threshold);
    p.nt_threshold = kNever;
    CHECK(parse_profile(format_profile(p), "x").nt_threshold == kNever);

    const std::string head = "version 1\ncpu c\nmachine m\n";
    CHECK_THROWS_WITH_AS(parse_profile(head + "nt_threshold 64Q\n", "/p"), doctest::Contains("/p:4"), Error);
    CHECK_THROWS_WITH_AS(parse_profile(head + "# fine\n\nblock_size 1M\n", "/p"), doctest::Contains("/p:6: unknown key"), Error);
    CHECK_THROWS_WITH_AS(parse_profile(head + "threads\n", "/p"), doctest::Contains("/p:4"), Error);
    CHECK_THROWS_WITH_AS(parse_profile(head + "block_bytes 16\n", "/p"), doctest::Contains("at least 4096"), Error);
    CHECK_THROWS_WITH_AS(parse_profile("version 2\n", "/p"), doctest::Contains("/p:1"), Error);
    CHECK_THROWS_WITH_AS(parse_profile("cpu c\nmachine m\n", "/p"), doctest::Contains("version"), Error);
    CHECK_THROWS_WITH_AS(parse_profile("version 1\nnt_threshold 1M\n", "/p"), doctest::Contains("cpu"), Error);
}

TEST_CASE("the profile's location: $TILECOPY_PROFILE, else $XDG_CACHE_HOME/tilecopy, else ~/.cache/tilecopy") {
    {
        ScopedEnv a("TILECOPY_PROFILE", "/x/p");
        CHECK(profile_path() == "/x/p");
    }
    ScopedEnv a("TILECOPY_PROFILE", nullptr);
    {
        ScopedEnv b("XDG_CACHE_HOME", "/cache");
        CHECK(profile_path() == "/cache/tilecopy/profile");
    }
    ScopedEnv b("XDG_CACHE_HOME", nullptr);
    ScopedEnv c("HOME", "/home/u");
    CHECK(profile_path() == "/home/u/.cache/tilecopy/profile");
}

TEST_CASE("an engine uses a profile measured on this machine, ignores one from another, and rejects a malformed one") {
    const std::string path = temp_path("profile");
    ScopedEnv at("TILECOPY_PROFILE", path.c_str());
    for (const char* v : {"TILECOPY_NT_THRESHOLD", "TILECOPY_INLINE_THRESHOLD", "TILECOPY_BLOCK_BYTES", "TILECOPY_THREADS",
                          "TILECOPY_LINGER_US"})
        unsetenv(v);
    auto line = [](const CopyEngine& e, const char* prefix) {
        for (const auto& l : e.describe())
            if (l.rfind(prefix, 0) == 0) return l;
        return std::string();
    };

    std::remove(path.c_str());
    {
        CopyEngine engine;
        CHECK(line(engine, "profile: ") == "profile: no profile at " + path + " (tilecopy-tune writes one)");
    }

    // The machine as the engine sees it; a lying L3 must not matter to the result.
    Options o;
    o.topology_synthetic = "pack:1 [numa] l3:1(size=532676608) l2:2(size=1048576) core:1 pu:1";
    const MachineFacts here = facts(532676608, 1 * MiB, 2);
    Profile p = profile_with(3 * MiB, 128 * KiB, 64 * KiB);
    p.cpu = cpu_model();
    p.machine = machine_summary(here);
    p.threads = 2;
    write_file(path, format_profile(p));
    {
        CopyEngine engine(o);
        CHECK(engine.options().nontemporal_threshold == 3 * MiB);
        CHECK(engine.options().inline_threshold == 128 * KiB);
        CHECK(engine.options().block_bytes == 64 * KiB);
        CHECK(engine.options().linger_us == 500);
        CHECK(line(engine, "profile: ") == "profile: profile " + path + " (measured on this machine)");
        CHECK(line(engine, "non-temporal stores from: ") == "non-temporal stores from: 3 MiB (profile " + path + ")");
        // The profile's threshold decides the store kind, exactly.
        tilecopy::test::GuardedBuffer src(4 * MiB + 5, 1), dst(4 * MiB + 5, 3);
        tilecopy::test::fill_pattern(src.data(), src.size(), 5);
        engine.copy(dst.data(), src.data(), src.size());
        CHECK(std::memcmp(dst.data(), src.data(), src.size()) == 0);
        CHECK(dst.canaries_intact());
        CHECK(engine.stats().nontemporal_copies == 1);
        engine.copy(dst.data(), src.data(), 2 * MiB);
        CHECK(engine.stats().nontemporal_copies == 1);

        // Options still win over it.
        Options forced = o;
        forced.nontemporal_threshold = kNever;
        CopyEngine never(forced);
        CHECK(line(never, "non-temporal stores") == "non-temporal stores: never (option Options::nontemporal_threshold)");
    }

    // Another machine's profile (here: the same CPU describing another L3) is ignored, and said so.
    {
        Options other = o;
        other.topology_synthetic = "pack:1 [numa] l3:1(size=8388608) l2:2(size=1048576) core:1 pu:1";
        CopyEngine engine(other);
        CHECK(engine.options().nontemporal_threshold == 16 * MiB);
        CHECK(line(engine, "profile: ").find("ignored: measured on '" + p.machine + "'") != std::string::npos);
    }
    p.cpu = "Some Other CPU";
    write_file(path, format_profile(p));
    {
        CopyEngine engine(o);
        CHECK(engine.options().nontemporal_threshold == 64 * MiB);
        CHECK(line(engine, "profile: ").find("ignored: measured on CPU 'Some Other CPU'") != std::string::npos);
    }

    write_file(path, "version 1\ncpu x\nmachine y\nnt_threshold sixty-four\n");
    const std::string at_line = path + ":4";
    CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains(at_line.c_str()), Error);
    std::remove(path.c_str());
}

TEST_CASE("an engine takes its tunables from the environment, and a bad one is an error naming it") {
    ScopedEnv no_profile("TILECOPY_PROFILE", "/nonexistent/tilecopy/profile");
    Options o;
    o.topology_synthetic = "pack:1 [numa] l3:1(size=8388608) l2:2(size=1048576) core:1 pu:1";
    {
        ScopedEnv nt("TILECOPY_NT_THRESHOLD", "1M");
        ScopedEnv in("TILECOPY_INLINE_THRESHOLD", "64K");
        ScopedEnv linger("TILECOPY_LINGER_US", "0");
        ScopedEnv threads("TILECOPY_THREADS", "1");
        CopyEngine engine(o);
        CHECK(engine.options().nontemporal_threshold == 1 * MiB);
        CHECK(engine.options().inline_threshold == 64 * KiB);
        CHECK(engine.options().linger_us == 0);
        CHECK(detail::internals(engine).scheduler().total_concurrency() == 1);
        tilecopy::test::GuardedBuffer src(MiB + 3), dst(MiB + 3, 7);
        tilecopy::test::fill_pattern(src.data(), src.size(), 9);
        engine.copy(dst.data(), src.data(), src.size());
        CHECK(std::memcmp(dst.data(), src.data(), src.size()) == 0);
        CHECK(dst.canaries_intact());
        CHECK(engine.stats().nontemporal_copies == 1);
        CHECK(engine.stats().parallel_copies == 1);
    }
    {
        ScopedEnv bad("TILECOPY_BLOCK_BYTES", "big");
        CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains("TILECOPY_BLOCK_BYTES"), Error);
        o.block_bytes = 4096; // an option makes the variable moot
        CHECK_NOTHROW(CopyEngine{o});
    }
}

TEST_CASE("every threshold has its own variable and origin: async lanes, the tensor run minimum and the kernel") {
    const Options o;
    Environment env;
    Strategy s = resolve_strategy(o, env, nullptr, facts(32 * MiB));
    CHECK(s.async_inline_bytes.value == 16 * KiB);
    CHECK(s.async_inline_bytes.origin == Origin::Fallback);
    CHECK(s.async_small_bytes.value == s.inline_threshold.value);
    CHECK(s.min_run_bytes.value == 4 * KiB);
    CHECK(s.kernel.name.empty());
    CHECK(s.kernel.origin == Origin::Fallback);

    env.async_inline_bytes = "0";
    env.async_small_bytes = "1M";
    env.min_run_bytes = "64K";
    env.kernel = "scalar";
    s = resolve_strategy(o, env, nullptr, facts(32 * MiB));
    CHECK(s.async_inline_bytes.value == 0);
    CHECK(origin_text(s.async_inline_bytes) == "environment $TILECOPY_ASYNC_INLINE_BYTES");
    CHECK(s.async_small_bytes.value == 1 * MiB);
    CHECK(origin_text(s.min_run_bytes) == "environment $TILECOPY_MIN_RUN_BYTES");
    CHECK(s.min_run_bytes.value == 64 * KiB);
    CHECK(s.kernel.name == "scalar");
    CHECK(s.kernel.source == "$TILECOPY_KERNEL");

    Options forced;
    forced.kernel = "avx2";
    forced.min_run_bytes = 8 * KiB;
    s = resolve_strategy(forced, env, nullptr, facts(32 * MiB));
    CHECK(s.kernel.name == "avx2");
    CHECK(s.kernel.origin == Origin::Option);
    CHECK(origin_text(s.min_run_bytes) == "option Options::min_run_bytes");

    const auto lines = describe_strategy(s);
    auto has = [&lines](const std::string& text) {
        for (const auto& l : lines)
            if (l.find(text) != std::string::npos) return true;
        return false;
    };
    CHECK(has("async copies on the caller up to: 0 B (environment $TILECOPY_ASYNC_INLINE_BYTES)"));
    CHECK(has("async small lane below: 1 MiB (environment $TILECOPY_ASYNC_SMALL_BYTES)"));
    CHECK(has("tensor runs to copy_ below: 8 KiB (option Options::min_run_bytes)"));
    // A forced kernel copies everything, so nothing runs in the caller with the string copy.
    CHECK(has("copies in the caller (CopyEngine::copy inline, first copying thread) below: 1 B"));

    Environment bad;
    bad.min_run_bytes = "0";
    CHECK_THROWS_WITH_AS(resolve_strategy(o, bad, nullptr, facts(32 * MiB)), doctest::Contains("TILECOPY_MIN_RUN_BYTES"),
                         Error);
    bad = {};
    bad.async_small_bytes = "lots";
    CHECK_THROWS_WITH_AS(resolve_strategy(o, bad, nullptr, facts(32 * MiB)),
                         doctest::Contains("TILECOPY_ASYNC_SMALL_BYTES"), Error);
}

TEST_CASE("an engine's info lists every tunable with its value, origin and variable, and the kernel chosen once") {
    ScopedEnv no_profile("TILECOPY_PROFILE", "/nonexistent/tilecopy/profile");
    ScopedEnv async_inline("TILECOPY_ASYNC_INLINE_BYTES", "1M");
    Options o;
    o.kernel = "scalar";
    CopyEngine engine(o, std::make_shared<tilecopy::test::FakeTopology>(std::vector<unsigned>{2}));
    const EngineInfo info = engine.info();
    for (const char* name : {"threads", "block_bytes", "inline_threshold", "nontemporal_threshold", "linger_us",
                             "async_inline_bytes", "async_small_bytes", "min_run_bytes"}) {
        CAPTURE(name);
        const TunableInfo* t = find_tunable(info, name);
        REQUIRE(t != nullptr);
        CHECK(t->variable.rfind("TILECOPY_", 0) == 0);
        CHECK(!t->origin.empty());
    }
    CHECK(find_tunable(info, "async_inline_bytes")->value == 1 * MiB);
    CHECK(find_tunable(info, "async_inline_bytes")->origin == "environment");
    CHECK(engine.options().async_inline_bytes == 1 * MiB);
    CHECK(info.kernel == "scalar");
    CHECK(info.kernel_reason == "forced by Options::kernel");
    CHECK(std::string(engine.kernel()) == "scalar");
    CHECK(info.l2_bytes == 1 * MiB);
    CHECK(info.llc_bytes == 32 * MiB);
    CHECK(info.nodes.size() == 1);
    CHECK(info.arenas.size() == 1);
    CHECK(info.threads == 2);

    // An asynchronous copy of up to async_inline_bytes runs on the caller: done on return.
    std::vector<unsigned char> src(512 * KiB, 5), dst(512 * KiB, 0);
    CopyHandle h = engine.copy_async(dst.data(), src.data(), src.size());
    CHECK(h.done());
    CHECK(dst == src);
}

TEST_CASE("the never sentinel in a profile belongs to nt_threshold alone") {
    const std::string head = "version 1\ncpu c\nmachine m\n";
    CHECK(parse_profile(head + "nt_threshold 18446744073709551615\n", "/p").nt_threshold == kNever);
    CHECK_THROWS_WITH_AS(parse_profile(head + "threads 18446744073709551615\n", "/p"),
                         doctest::Contains("/p:4: threads 18446744073709551615 must be 1 to 65536"), Error);
    CHECK_THROWS_WITH_AS(parse_profile(head + "linger_us 18446744073709551615\n", "/p"),
                         doctest::Contains("/p:4: linger_us 18446744073709551615 must be at most"), Error);
}

TEST_CASE("a block size below 4 KiB is refused with the option or variable named") {
    Environment env;
    env.block_bytes = "64";
    CHECK_THROWS_WITH_AS(resolve_strategy(Options{}, env, nullptr, facts(32 * MiB)),
                         doctest::Contains("$TILECOPY_BLOCK_BYTES='64' must be at least 4096"), Error);
    env.block_bytes = "4K";
    CHECK(resolve_strategy(Options{}, env, nullptr, facts(32 * MiB)).block_bytes.value == 4096);
    Options o;
    o.block_bytes = 4095;
    CHECK_THROWS_WITH_AS(resolve_strategy(o, Environment{}, nullptr, facts(32 * MiB)),
                         doctest::Contains("Options::block_bytes must be 0 (default) or at least 4096"), Error);
}

TEST_CASE("unknown cache sizes make the strategy say what it assumed") {
    const Strategy s = resolve_strategy(Options{}, Environment{}, nullptr, facts(0, 0));
    CHECK(s.nontemporal_threshold.value == 32 * MiB);
    CHECK(origin_text(s.nontemporal_threshold) == "fallback: no last-level cache reported: assumed 32 MiB");
    CHECK(s.block_bytes.value == 256 * KiB);
    CHECK(origin_text(s.block_bytes) == "fallback: no L2 reported: assumed 256 KiB");
}

TEST_CASE("a profile is keyed to the whole machine, so a process on fewer CPUs uses it with its threads capped") {
    MachineFacts whole = facts(32 * MiB, 1 * MiB, 2);
    MachineFacts pinned = whole;
    pinned.pus = 1;            // taskset -c 0
    pinned.machine_pus = 2;    // the machine is the same
    pinned.machine_nodes = 1;
    CHECK(machine_summary(pinned) == machine_summary(whole));
    Profile p = profile_with(64 * MiB, 256 * KiB, 256 * KiB);
    p.threads = 2;
    const Strategy s = resolve_strategy(Options{}, Environment{}, &p, pinned);
    CHECK(s.threads.value == 1);
    CHECK(s.threads.origin == Origin::Profile);
    CHECK(s.threads.source.find("asked for 2, capped to the 1 CPU(s) this process may use") != std::string::npos);
    CHECK(s.block_bytes.value == 256 * KiB);
}
