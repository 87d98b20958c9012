// The kernel's memory settings as the strategy needs them: THP mode and free 2 MiB blocks.
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "memory_strategy.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

namespace {

std::string file_text(const char* path) {
    std::ifstream in(path);
    if (!in) return {};
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace

ThpMode read_thp_mode() {
    ThpMode m;
    m.enabled = bracketed(file_text("/sys/kernel/mm/transparent_hugepage/enabled"));
    if (!m.enabled.empty()) m.defrag = bracketed(file_text("/sys/kernel/mm/transparent_hugepage/defrag"));
    return m;
}

std::size_t free_huge_bytes() noexcept {
    try {
        const long page = sysconf(_SC_PAGESIZE);
        return free_huge_bytes_of(file_text("/proc/buddyinfo"), page > 0 ? std::size_t(page) : 4096);
    } catch (...) {
        return 0;
    }
}

} // namespace tilecopy::detail
