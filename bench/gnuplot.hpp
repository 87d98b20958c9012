// What the benchmarks that plot share: gnuplot's and the shell's quoting, a temporary directory
// for the data and script files, and running gnuplot on a script.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

namespace bench {

// Removes a temporary directory and what the caller put in it (listed in `files`).
struct TempDir {
    std::string path;
    std::vector<std::string> files;
    TempDir() = default;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        for (const std::string& f : files)
            ::unlink(f.c_str());
        if (!path.empty())
            ::rmdir(path.c_str());
    }
    // Creates a fresh directory under /tmp named after `stem`; false when it cannot.
    bool make(const std::string& stem) {
        std::string name = "/tmp/" + stem + "-XXXXXX";
        if (::mkdtemp(name.data()) == nullptr)
            return false;
        path = name;
        return true;
    }
    // A path in the directory, removed with it.
    std::string file(const std::string& name) {
        files.push_back(path + "/" + name);
        return files.back();
    }
};

inline std::string quoted_for_gnuplot(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

inline std::string quoted_for_shell(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

inline bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// Runs gnuplot on a script file; an empty string on success, else why not. gnuplot's
// complaints go to stderr, not into the caller's table.
inline std::string run_gnuplot(const std::string& script) {
    const std::string command = "gnuplot " + quoted_for_shell(script) + " 1>&2";
    if (std::system(command.c_str()) != 0)
        return "gnuplot failed on " + script;
    return {};
}

} // namespace bench
