#include "machine.hpp"

#include <ctime>
#include <fstream>

#include <sys/utsname.h>

namespace bench {

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            auto colon = line.find(':');
            return colon == std::string::npos ? line : line.substr(colon + 2);
        }
    return "unknown";
}

std::string os_kernel() {
    utsname u{};
    return ::uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "unknown";
}

std::string utc_now() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

double load_average() {
    std::ifstream in("/proc/loadavg");
    double one_minute = -1;
    if (!(in >> one_minute))
        return -1;
    return one_minute;
}

} // namespace bench
