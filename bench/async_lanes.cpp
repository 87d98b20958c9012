// tilecopy-async-lanes: does a small asynchronous copy wait behind a large one, and does the
// large one lose bandwidth to it? Rounds interleave a large copy_async alone and the same copy
// with small copy_async calls submitted while it runs (each waited for before the next); prints
// medians: the small copies' completion time (submit to wait() returning) and the large
// copy's bandwidth with and without them.
//
//   tilecopy-async-lanes [--large MiB] [--small bytes] [--rounds N] [--gap-us us]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <tilecopy/tilecopy.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }

} // namespace

int main(int argc, char** argv) {
    std::size_t large = std::size_t(512) << 20, small = 4096;
    int rounds = 9;
    long gap_us = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const long value = std::strtol(argv[i + 1], nullptr, 10);
        if (flag == "--large") large = std::size_t(value) << 20;
        else if (flag == "--small") small = std::size_t(value);
        else if (flag == "--rounds") rounds = int(value);
        else if (flag == "--gap-us") gap_us = value;
        else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    tilecopy::CopyEngine engine;
    std::vector<unsigned char> src(large, 1), dst(large, 2), small_src(small, 3), small_dst(small, 4);
    engine.copy(dst.data(), src.data(), large); // touch every page

    std::vector<double> alone_gbs, polled_gbs, mixed_gbs, small_us, small_idle_us;
    for (int round = 0; round < rounds; ++round) {
        {
            const auto t0 = clock_type::now();
            engine.copy_async(dst.data(), src.data(), large).wait();
            alone_gbs.push_back(large / seconds(clock_type::now() - t0) / 1e9);
        }
        {
            // The same large copy with the caller waking up at the same interval, doing nothing
            // else: on a machine with few cores the waking thread alone costs the copy bandwidth.
            const auto t0 = clock_type::now();
            tilecopy::CopyHandle big = engine.copy_async(dst.data(), src.data(), large);
            while (!big.done()) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            big.wait();
            polled_gbs.push_back(large / seconds(clock_type::now() - t0) / 1e9);
        }
        {
            // Small copies on an idle engine, for reference.
            for (int k = 0; k < 20; ++k) {
                const auto t0 = clock_type::now();
                engine.copy_async(small_dst.data(), small_src.data(), small).wait();
                small_idle_us.push_back(seconds(clock_type::now() - t0) * 1e6);
                std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            }
        }
        {
            const auto t0 = clock_type::now();
            tilecopy::CopyHandle big = engine.copy_async(dst.data(), src.data(), large);
            while (!big.done()) {
                const auto s0 = clock_type::now();
                tilecopy::CopyHandle h = engine.copy_async(small_dst.data(), small_src.data(), small);
                h.wait();
                const auto s1 = clock_type::now();
                small_us.push_back(seconds(s1 - s0) * 1e6); // submitted while the large one ran
                std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            }
            big.wait();
            mixed_gbs.push_back(large / seconds(clock_type::now() - t0) / 1e9);
        }
    }
    std::printf("large %zu MiB, small %zu B, %d rounds, small copies every %ld us while the large one runs\n",
                large >> 20, small, rounds, gap_us);
    std::printf("large alone:            %.1f GB/s (median)\n", median(alone_gbs));
    std::printf("large, caller polling:  %.1f GB/s (median)\n", median(polled_gbs));
    std::printf("large with small ones:  %.1f GB/s (median), %.3fx alone, %.3fx polling\n", median(mixed_gbs),
                median(mixed_gbs) / median(alone_gbs), median(mixed_gbs) / median(polled_gbs));
    std::printf("small during large:     median %.1f us, max %.1f us over %zu copies\n", median(small_us),
                small_us.empty() ? 0.0 : *std::max_element(small_us.begin(), small_us.end()), small_us.size());
    std::printf("small on an idle engine: median %.1f us\n", median(small_idle_us));
    return 0;
}
