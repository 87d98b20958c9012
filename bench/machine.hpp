// What the report says about the machine and the moment: read from /proc and uname.
#pragma once

#include <string>

namespace bench {

std::string cpu_model();   // /proc/cpuinfo "model name"
std::string os_kernel();   // "Linux 6.1.0-..."
std::string utc_now();     // ISO 8601
// The 1-minute load average (/proc/loadavg), or a negative number when unknown. On a shared
// machine it says how much the figures may be disturbed by other work.
double load_average();

} // namespace bench
