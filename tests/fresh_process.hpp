// Runs a scenario in a fresh process: the test binary starts itself again with a doctest
// filter naming one test case and TILECOPY_FRESH_PROCESS set. Some behaviours depend on what
// the process did before (a oneTBB scheduler with workers, an engine used before fork(), a
// CPU affinity): a fresh process has done none of it, whatever test cases ran before.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tilecopy::test {

// The exit status of a scenario that passed: not 0, so that a filter matching no test case
// (doctest then exits with 0) fails.
constexpr int kFreshPassed = 42;

// Ends the fresh process with its verdict (static objects are destroyed: exit(), not _exit()).
[[noreturn]] inline void finish_fresh(bool passed) { std::exit(passed ? kFreshPassed : 1); }

// True inside the fresh process started by run_fresh for `name`.
inline bool in_fresh_process(const char* name) {
    const char* value = std::getenv("TILECOPY_FRESH_PROCESS");
    return value && std::string(value) == name;
}

// Starts /proc/self/exe on the test case `name` (no commas or wildcards in it) with the extra
// environment `env` ("NAME=value"); returns its wait status. `prefix` (e.g. {"taskset", "-c",
// "0"}) runs it through another program.
inline int run_fresh(const char* name, const std::vector<std::string>& env = {},
                     const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> args = prefix;
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    args.push_back(self);
    args.push_back(std::string("--test-case=") + name);
    args.push_back("--no-version");
    std::vector<std::string> envs;
    auto overridden = [&env](const std::string& entry) {
        if (entry.rfind("TILECOPY_FRESH_PROCESS=", 0) == 0) return true;
        for (const auto& e : env)
            if (entry.compare(0, e.find('=') + 1, e, 0, e.find('=') + 1) == 0) return true;
        return false;
    };
    for (char** e = environ; *e; ++e)
        if (!overridden(*e)) envs.push_back(*e);
    envs.push_back(std::string("TILECOPY_FRESH_PROCESS=") + name);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return status;
}

inline bool passed_fresh(int status) { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == kFreshPassed; }

} // namespace tilecopy::test
