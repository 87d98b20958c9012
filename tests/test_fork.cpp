// fork(): engines made before a fork work in the child (serially) and never hang; a child
// that makes its own engine works too. Each child has an alarm, so a hang fails the test.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tilecopy/tilecopy.hpp>

#include "support.hpp"

using namespace tilecopy;

namespace {

bool copies_exactly(CopyEngine& engine, std::size_t bytes) {
    std::vector<unsigned char> src(bytes), dst(bytes + 2, 0xA5);
    tilecopy::test::fill_pattern(src.data(), bytes, static_cast<std::uint32_t>(bytes));
    engine.copy(dst.data() + 1, src.data(), bytes);
    if (std::memcmp(dst.data() + 1, src.data(), bytes) != 0 || dst[0] != 0xA5 || dst[bytes + 1] != 0xA5) return false;
    std::vector<unsigned char> dst2(bytes);
    CopyHandle h = engine.copy_async(dst2.data(), src.data(), bytes);
    h.wait();
    return h.done() && std::memcmp(dst2.data(), src.data(), bytes) == 0;
}

// Runs `child` in a forked process (exit status 0 on success, killed by an alarm after 60 s)
// and returns the child's wait status.
template <typename Fn>
int in_child(Fn&& child) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        std::exit(child() ? 0 : 1); // exit(), not _exit(): static engines are destroyed too
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

} // namespace

TEST_CASE("an engine used before fork() copies in the child and the child exits") {
    CopyEngine engine;
    // Wake the workers and the submitter thread in the parent first.
    REQUIRE(copies_exactly(engine, 8 << 20));
    REQUIRE(copies_exactly(default_engine(), 8 << 20));
    const int status = in_child([&] {
        return copies_exactly(engine, 8 << 20) && copies_exactly(engine, 1000) && copies_exactly(default_engine(), 3 << 20);
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    // The parent's engine is unaffected.
    CHECK(copies_exactly(engine, 8 << 20));
}

TEST_CASE("a child process can make and destroy its own engines") {
    CopyEngine parent_engine;
    REQUIRE(copies_exactly(parent_engine, 8 << 20));
    const int status = in_child([] {
        bool ok = true;
        for (int i = 0; i < 3; ++i) { // made, used and destroyed again and again
            CopyEngine engine;
            ok = ok && copies_exactly(engine, 8 << 20) && copies_exactly(engine, 100);
            bool says_so = false;
            for (const auto& line : engine.describe()) says_so = says_so || line.find("forked child") != std::string::npos;
            ok = ok && says_so;
        }
        // A grandchild too.
        const pid_t pid = fork();
        if (pid == 0) {
            alarm(60);
            CopyEngine engine;
            std::exit(copies_exactly(engine, 4 << 20) ? 0 : 1);
        }
        int status = 0;
        ok = ok && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        return ok;
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
