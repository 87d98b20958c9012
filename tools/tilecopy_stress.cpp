// tilecopy-stress: a soak test. T threads mix synchronous, asynchronous and batched copies
// (and tensor copies when built with the torch adapter) on shared engines, make and destroy
// private engines now and then (with copies still in flight), and check every result byte
// for byte, canaries included. Ends with "tilecopy-stress: N copies, B bytes, E errors";
// exits 1 when E > 0.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>

#ifdef TILECOPY_STRESS_TORCH
#include "stress_tensor.hpp"
#endif

namespace {

using namespace tilecopy;
using Clock = std::chrono::steady_clock;

constexpr unsigned char kCanary = 0xA5;
constexpr std::size_t kGuard = 64;

struct Tally {
    std::atomic<std::uint64_t> copies{0}, bytes{0}, errors{0};
    std::mutex mutex;
    std::vector<std::string> first_errors; // the first few, printed at the end

    void error(const std::string& what) {
        errors.fetch_add(1);
        std::lock_guard<std::mutex> lock(mutex);
        if (first_errors.size() < 10) first_errors.push_back(what);
    }
};

// A destination with canary bytes on both sides.
struct Guarded {
    std::vector<unsigned char> storage;
    explicit Guarded(std::size_t bytes) : storage(bytes + 2 * kGuard, kCanary) {}
    unsigned char* data() { return storage.data() + kGuard; }
    std::size_t size() const { return storage.size() - 2 * kGuard; }
    bool canaries_intact() const {
        for (std::size_t i = 0; i < kGuard; ++i)
            if (storage[i] != kCanary || storage[storage.size() - 1 - i] != kCanary) return false;
        return true;
    }
};

class Worker {
public:
    Worker(std::uint64_t seed, Tally& tally) : rng_(seed), tally_(tally) {}

    void step(CopyEngine& engine) {
        switch (pick(0, 9)) {
        case 0: case 1: case 2: sync_copy(engine); break;
        case 3: case 4: async_copies(engine); break;
        case 5: case 6: batch(engine); break;
        case 7: conversions(engine); break;
        case 8: rejection(engine); break;
        default: private_engine(); break;
        }
    }

#ifdef TILECOPY_STRESS_TORCH
    void tensors(CopyEngine& engine) {
        const stress::TensorRound round = stress::tensor_round(engine, rng_);
        tally_.copies += round.copies;
        tally_.bytes += round.bytes;
        if (round.errors) {
            tally_.error(round.first_error);
            tally_.errors += round.errors - 1;
        }
    }
#endif

private:
    std::size_t pick(std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_); }
    // Log-uniform up to 8 MiB: most copies small, some past every threshold.
    std::size_t size() { return pick(0, (std::size_t(1) << pick(0, 23)) - 1); }

    std::vector<unsigned char> source(std::size_t bytes) {
        std::vector<unsigned char> src(bytes + 1);
        std::uint64_t x = rng_();
        for (auto& b : src) b = static_cast<unsigned char>((x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
        return src;
    }

    void verify(const char* what, Guarded& dst, const unsigned char* expected, std::size_t bytes) {
        tally_.copies.fetch_add(1);
        tally_.bytes.fetch_add(bytes);
        if (std::memcmp(dst.data(), expected, bytes) != 0)
            tally_.error(std::string(what) + ": " + std::to_string(bytes) + " bytes differ from the source");
        else if (!dst.canaries_intact())
            tally_.error(std::string(what) + ": " + std::to_string(bytes) + " bytes written past the destination");
    }

    void sync_copy(CopyEngine& engine) {
        const std::size_t bytes = size(), misalign = pick(0, 63);
        const auto src = source(bytes + misalign);
        Guarded dst(bytes);
        engine.copy(dst.data(), src.data() + misalign, bytes);
        verify("copy", dst, src.data() + misalign, bytes);
    }

    void async_copies(CopyEngine& engine) {
        const std::size_t jobs = pick(1, 4);
        std::vector<std::vector<unsigned char>> srcs;
        std::vector<Guarded> dsts;
        std::vector<CopyHandle> handles;
        for (std::size_t j = 0; j < jobs; ++j) {
            srcs.push_back(source(size()));
            dsts.emplace_back(srcs.back().size() - 1);
        }
        for (std::size_t j = 0; j < jobs; ++j)
            handles.push_back(engine.copy_async(dsts[j].data(), srcs[j].data(), dsts[j].size()));
        for (std::size_t j = 0; j < jobs; ++j) {
            handles[j].wait();
            if (handles[j].bytes_copied() != dsts[j].size())
                tally_.error("copy_async: the handle reports " + std::to_string(handles[j].bytes_copied()) + " of " +
                             std::to_string(dsts[j].size()) + " bytes after wait()");
            verify("copy_async", dsts[j], srcs[j].data(), dsts[j].size());
        }
    }

    void batch(CopyEngine& engine) {
        const std::size_t count = pick(1, 64);
        std::vector<std::size_t> sizes(count);
        std::size_t total = 0;
        for (auto& s : sizes) total += s = pick(0, 1) ? pick(0, 4096) : size() / 16;
        const auto src = source(total);
        Guarded dst(total);
        std::vector<Region> regions;
        std::size_t offset = 0;
        for (std::size_t s : sizes) {
            regions.push_back(Region{dst.data() + offset, src.data() + offset, s});
            offset += s;
        }
        if (pick(0, 1)) {
            engine.copy_batch(regions);
        } else {
            CopyHandle handle = engine.copy_batch_async(regions);
            handle.wait();
        }
        verify("copy_batch", dst, src.data(), total);
    }

    // float32 -> bfloat16 -> float32 and float32 -> float16 -> float32 on values that both
    // narrow types hold exactly: the round trip must give the source back bit for bit.
    void conversions(CopyEngine& engine) {
        const std::size_t count = size() / 4;
        std::vector<float> values(count), back(count);
        for (auto& v : values) v = static_cast<float>(static_cast<int>(pick(0, 510)) - 255) / static_cast<float>(1 << pick(0, 7));
        std::vector<std::uint16_t> narrow(count);
        const bool bf16 = pick(0, 1);
        std::vector<Region> there{Region{narrow.data(), values.data(), count}};
        std::vector<Region> back_again{Region{back.data(), narrow.data(), count}};
        engine.copy_batch(there, bf16 ? Conversion::F32ToBF16 : Conversion::F32ToF16);
        engine.copy_batch_async(back_again, bf16 ? Conversion::BF16ToF32 : Conversion::F16ToF32).wait();
        tally_.copies.fetch_add(2);
        tally_.bytes.fetch_add(count * 6);
        if (std::memcmp(values.data(), back.data(), count * sizeof(float)) != 0)
            tally_.error(std::string("float32 round trip through ") + (bf16 ? "bfloat16" : "float16") + " of " +
                         std::to_string(count) + " values changed them");
    }

    void rejection(CopyEngine& engine) {
        const std::size_t bytes = pick(1, 1 << 20), shift = pick(0, bytes - 1);
        auto buffer = source(bytes + shift);
        const auto before = buffer;
        try {
            engine.copy(buffer.data() + shift, buffer.data(), bytes);
            tally_.error("an overlapping copy of " + std::to_string(bytes) + " bytes was accepted");
        } catch (const Error&) {
            if (buffer != before) tally_.error("a refused overlapping copy wrote to its destination");
        }
        tally_.copies.fetch_add(1);
    }

    // A short-lived engine with random options; its last asynchronous copy is still in flight
    // when it is destroyed (the destructor finishes queued copies first).
    void private_engine() {
        Options options;
        options.threads = pick(1, 3);
        options.tile_bytes = std::size_t(64) << pick(0, 14);
        options.block_bytes = pick(0, 1) ? 0 : Options::kMinBlockBytes << pick(0, 6);
        options.inline_threshold = pick(0, 1) ? 0 : pick(1, 65536);
        options.nontemporal_threshold = pick(0, 1) ? 0 : pick(64, 1 << 20);
        options.numa = static_cast<NumaPolicy>(pick(0, 3));
        options.numa_node = 0;
        options.pin_threads = pick(0, 1);
        const std::size_t bytes = size();
        const auto src = source(bytes);
        Guarded dst(bytes);
        CopyHandle handle;
        {
            CopyEngine engine(options);
            sync_copy(engine);
            handle = engine.copy_async(dst.data(), src.data(), bytes);
        }
        handle.wait();
        verify("copy_async on a destroyed engine", dst, src.data(), bytes);
    }

    std::mt19937_64 rng_;
    Tally& tally_;
};

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-stress: mixed concurrent copies, every result checked"};
    double seconds = 10;
    unsigned threads = 2;
    std::uint64_t seed = std::random_device{}();
    app.add_option("--seconds", seconds, "How long to run")->check(CLI::PositiveNumber);
    app.add_option("--threads", threads, "Threads issuing copies")->check(CLI::Range(1u, 256u));
    app.add_option("--seed", seed, "Seed of the random choices (printed at start)");
    CLI11_PARSE(app, argc, argv);

    std::printf("tilecopy-stress: seed %llu, %u threads, %g s\n", static_cast<unsigned long long>(seed), threads, seconds);
    std::fflush(stdout);
    Tally tally;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    try {
        // Two engines shared by every thread: the defaults, and one that runs small copies as
        // many tiny blocks on the arenas.
        CopyEngine shared_default;
        Options fine;
        fine.tile_bytes = 1 << 16;
        fine.block_bytes = Options::kMinBlockBytes;
        fine.inline_threshold = 1;
        CopyEngine shared_fine(fine);
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                Worker worker(seed + t, tally);
                try {
                    for (std::uint64_t i = 0; Clock::now() < deadline; ++i) {
                        CopyEngine& engine = i % 2 ? shared_fine : shared_default;
#ifdef TILECOPY_STRESS_TORCH
                        if (i % 10 == 9) {
                            worker.tensors(engine);
                            continue;
                        }
#endif
                        worker.step(engine);
                    }
                } catch (const std::exception& e) {
                    tally.error(std::string("unexpected exception: ") + e.what());
                }
            });
        }
        for (auto& th : pool) th.join();
    } catch (const std::exception& e) {
        tally.error(std::string("unexpected exception: ") + e.what());
    }
    for (const auto& e : tally.first_errors) std::fprintf(stderr, "tilecopy-stress: error: %s\n", e.c_str());
    std::printf("tilecopy-stress: %llu copies, %llu bytes, %llu errors\n",
                static_cast<unsigned long long>(tally.copies.load()), static_cast<unsigned long long>(tally.bytes.load()),
                static_cast<unsigned long long>(tally.errors.load()));
    return tally.errors.load() == 0 ? 0 : 1;
}
