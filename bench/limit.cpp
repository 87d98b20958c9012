#include "limit.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// The kernels themselves (lib/kernels, linked statically into the benchmark): the library
// exports no kernel, and the row must run the very code the engine runs.
#include "kernels/kernels.hpp"

namespace bench {

namespace {

using tilecopy::kernels::CopyFn;

CopyFn nt_kernel_named(const std::string& name) {
    for (const tilecopy::kernels::KernelSet* k : {&tilecopy::kernels::avx512::kernel_set,
                                                  &tilecopy::kernels::avx2::kernel_set,
                                                  &tilecopy::kernels::scalar::kernel_set})
        if (name == k->name)
            return k->copy_nt;
    throw std::invalid_argument("the limit row has no kernel named '" + name + "'");
}

class BareLoop {
public:
    BareLoop(std::size_t threads, CopyFn kernel, std::chrono::microseconds linger)
        : kernel_(kernel), shares_(threads ? threads : 1), linger_(linger) {
        for (std::size_t i = 1; i < shares_; ++i)
            helpers_.emplace_back([this, i] { serve(i); });
    }
    ~BareLoop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        for (std::thread& t : helpers_)
            t.join();
    }
    BareLoop(const BareLoop&) = delete;
    BareLoop& operator=(const BareLoop&) = delete;

    void copy(void* dst, const void* src, std::size_t bytes) {
        dst_ = static_cast<unsigned char*>(dst);
        src_ = static_cast<const unsigned char*>(src);
        bytes_ = bytes;
        pending_.store(shares_ - 1, std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        run_share(0);
        while (pending_.load(std::memory_order_acquire) != 0) {
        }
    }

private:
    // Share i: [i * bytes / n, (i + 1) * bytes / n), edges on 64-byte lines of the destination.
    void run_share(std::size_t i) const noexcept {
        auto edge = [this](std::size_t k) {
            if (k == shares_) return bytes_;
            std::size_t at = bytes_ / shares_ * k;
            return std::min(bytes_, at + ((64 - reinterpret_cast<std::uintptr_t>(dst_ + at) % 64) % 64));
        };
        const std::size_t begin = edge(i), end = edge(i + 1);
        if (end > begin)
            kernel_(dst_ + begin, src_ + begin, end - begin);
    }

    void serve(std::size_t share) {
        std::uint64_t seen = 0;
        for (;;) {
            // Spin for the linger as the engine's helpers do, then sleep until the next call.
            const auto until = std::chrono::steady_clock::now() + linger_;
            std::uint64_t now = generation_.load(std::memory_order_acquire);
            for (unsigned spins = 0; now == seen; ++spins) {
                if ((spins & 255) == 255 && std::chrono::steady_clock::now() > until)
                    break;
                now = generation_.load(std::memory_order_acquire);
            }
            if (now == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
                if (stop_)
                    return;
                now = generation_.load(std::memory_order_acquire);
            }
            seen = now;
            run_share(share); // the kernel fences before returning
            pending_.fetch_sub(1, std::memory_order_release);
        }
    }

    const CopyFn kernel_;
    const std::size_t shares_;
    const std::chrono::microseconds linger_;
    unsigned char* dst_ = nullptr;
    const unsigned char* src_ = nullptr;
    std::size_t bytes_ = 0;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::size_t> pending_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::vector<std::thread> helpers_;
};

// One loop per engine, made before its first row is timed and kept for the run.
BareLoop& loop_for(tilecopy::CopyEngine& engine) {
    static std::map<tilecopy::CopyEngine*, std::unique_ptr<BareLoop>> loops;
    std::unique_ptr<BareLoop>& loop = loops[&engine];
    if (!loop) {
        const tilecopy::Options& o = engine.options();
        loop = std::make_unique<BareLoop>(o.threads, nt_kernel_named(engine.kernel()),
                                          std::chrono::microseconds(o.linger_us));
    }
    return *loop;
}

std::string ratio_text(const SectionResult& r, const std::string& label, std::size_t limit) {
    for (std::size_t i = 0; i < r.variants.size(); ++i) {
        const VariantResult& v = r.variants[i];
        if (v.label != label || v.gbps.empty() || v.gbps.size() != r.variants[limit].gbps.size())
            continue;
        std::vector<double> ratios;
        for (std::size_t k = 0; k < v.gbps.size(); ++k)
            ratios.push_back(v.gbps[k] / r.variants[limit].gbps[k]);
        char text[160];
        std::snprintf(text, sizeof text, "%s / limit: %.3fx (median of per-round ratios; target >= 0.97x)",
                      label.c_str(), median(ratios));
        return text;
    }
    return {};
}

} // namespace

void add_limit_variant(Section& section, const std::shared_ptr<BufferPair>& pair, const Context& ctx) {
    if (!ctx.methods.tilecopy || pair->bytes() < (std::size_t(64) << 20))
        return;
    BareLoop* loop = &loop_for(ctx.forced_nt ? *ctx.forced_nt : *ctx.engine);
    BufferPair* p = pair.get();
    const std::size_t limit = section.variants.size();
    section.variants.push_back(byte_copy_variant("limit", "limit (bare NT loop)", pair,
                                                 [loop, p] { loop->copy(p->dst(), p->src(), p->bytes()); }));
    auto earlier = std::move(section.notes);
    section.notes = [earlier, limit](const SectionResult& r) {
        std::vector<std::string> notes = earlier ? earlier(r) : std::vector<std::string>{};
        for (const char* label : {"tilecopy", "tilecopy forced NT"}) {
            std::string note = ratio_text(r, label, limit);
            if (!note.empty())
                notes.push_back(note);
        }
        return notes;
    };
}

} // namespace bench
