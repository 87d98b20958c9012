#include "async_workloads.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <tilecopy/torch.hpp>

#include "measure.hpp"

namespace bench::async {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// Waits for a copy that may have been cancelled; true when it finished whole.
bool settle(tilecopy::CopyHandle& h) {
    try {
        h.wait();
        return true;
    } catch (const tilecopy::Error&) {
        return false;
    }
}

} // namespace

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Matmul make_matmul(int threads, double step_s) {
    at::set_num_threads(threads);
    Matmul m;
    int n = 256;
    // A few tries: the time grows as n^3, give or take the cache and the machine's load.
    for (int attempt = 0; attempt < 6; ++attempt) {
        at::Tensor a = at::rand({n, n}), b = at::rand({n, n}), c = at::empty({n, n});
        // One row panel a thread: every thread works whether or not torch's BLAS is threaded
        // (Debian's libtorch calls the reference BLAS, one thread).
        Step step = [a, b, c, n, threads]() mutable {
            const std::int64_t rows = (n + threads - 1) / threads;
            at::parallel_for(0, threads, 1, [&](std::int64_t begin, std::int64_t end) {
                for (std::int64_t p = begin; p < end; ++p) {
                    const std::int64_t first = p * rows, count = std::min<std::int64_t>(rows, n - first);
                    if (count <= 0) continue;
                    at::Tensor out = c.narrow(0, first, count);
                    at::matmul_out(out, a.narrow(0, first, count), b);
                }
            });
        };
        const double t = median(run_alone(step, 5));
        m = Matmul{step, n, t};
        if (t > 0.85 * step_s && t < 1.15 * step_s) break;
        const double scale = std::cbrt(step_s / std::max(t, 1e-6));
        n = std::clamp(static_cast<int>(n * scale) / 16 * 16, 64, 16384);
    }
    return m;
}

Step make_copy_step(tilecopy::CopyEngine& engine, std::size_t bytes) {
    auto src = std::make_shared<std::vector<unsigned char>>(bytes, 1);
    auto dst = std::make_shared<std::vector<unsigned char>>(bytes, 2);
    return [&engine, src, dst] { engine.copy(dst->data(), src->data(), src->size()); };
}

struct StateDict::Tensors {
    std::vector<at::Tensor> src, dst;
};

StateDict::StateDict(std::size_t bytes) : t_(std::make_shared<Tensors>()) {
    // 24 layers of a transformer, each 12 s^2 + 13 s floats, take about 90%; the embedding the rest.
    const std::int64_t layers = 24;
    const double floats = static_cast<double>(bytes) / sizeof(float);
    const std::int64_t s = std::max<std::int64_t>(64, static_cast<std::int64_t>(std::sqrt(0.9 * floats / (12.0 * layers))) / 64 * 64);
    std::vector<std::vector<std::int64_t>> shapes;
    const std::int64_t rest = static_cast<std::int64_t>(floats) - layers * (12 * s * s + 13 * s) - 2 * s;
    shapes.push_back({std::max<std::int64_t>(1, rest / s), s}); // the embedding
    for (std::int64_t l = 0; l < layers; ++l) {
        for (int i = 0; i < 4; ++i) shapes.push_back({s, s}), shapes.push_back({s}); // q, k, v, o and biases
        for (int i = 0; i < 4; ++i) shapes.push_back({s});                             // two norms
        shapes.push_back({4 * s, s}), shapes.push_back({4 * s});                       // MLP up
        shapes.push_back({s, 4 * s}), shapes.push_back({s});                           // MLP down
    }
    shapes.push_back({s}), shapes.push_back({s}); // the final norm
    smallest_ = std::numeric_limits<std::size_t>::max();
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        at::Tensor src = at::empty(shapes[i], at::kFloat);
        src.fill_(static_cast<float>(i % 1000) + 0.25f);
        at::Tensor dst = at::empty(shapes[i], at::kFloat);
        dst.fill_(-1.0f);
        const std::size_t n = src.numel() * sizeof(float);
        bytes_ += n;
        largest_ = std::max(largest_, n);
        smallest_ = std::min(smallest_, n);
        t_->src.push_back(std::move(src));
        t_->dst.push_back(std::move(dst));
    }
    count_ = shapes.size();
}

tilecopy::CopyHandle StateDict::stage(tilecopy::CopyEngine& engine, const tilecopy::AsyncOptions& limits) const {
    return engine.copy_batch_async(t_->dst, t_->src, limits);
}

bool StateDict::staged_equal() const {
    for (std::size_t i = 0; i < t_->src.size(); ++i)
        if (!at::equal(t_->dst[i], t_->src[i])) return false;
    return true;
}

void StateDict::clear_destinations() const {
    for (at::Tensor& d : t_->dst) d.fill_(-1.0f);
}

std::vector<double> run_alone(const Step& step, int steps) {
    step();
    std::vector<double> times;
    for (int i = 0; i < steps; ++i) {
        const auto t0 = Clock::now();
        step();
        times.push_back(seconds_since(t0));
    }
    return times;
}

Beside run_beside(const Step& step, const std::function<tilecopy::CopyHandle()>& start, double min_s, double max_s) {
    Beside out;
    double bytes = 0, seconds = 0;
    auto account = [&](tilecopy::CopyHandle& h) {
        out.finished = settle(h);
        bytes += static_cast<double>(h.bytes_copied());
        seconds += h.seconds();
    };
    tilecopy::CopyHandle h = start();
    const auto t0 = Clock::now();
    for (;;) {
        if (h.done()) {
            account(h);
            if (seconds_since(t0) >= min_s) break;
            h = start(); // the next checkpoint
            continue;
        }
        if (seconds_since(t0) >= max_s) {
            h.cancel();
            account(h);
            break;
        }
        const auto s0 = Clock::now();
        step();
        const double s = seconds_since(s0);
        if (!h.done()) out.steps_s.push_back(s);
    }
    out.copy_bytes_per_second = seconds > 0 ? bytes / seconds : 0;
    return out;
}

Beside run_copy(const std::function<tilecopy::CopyHandle()>& start, double max_s) {
    Beside out;
    tilecopy::CopyHandle h = start();
    if (!h.wait_for(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(max_s))))
        h.cancel();
    out.finished = settle(h);
    out.copy_bytes_per_second = h.bytes_per_second();
    return out;
}

Probes time_probes(tilecopy::CopyEngine& engine, std::size_t bytes, int count, double pause_s,
                   const std::function<tilecopy::CopyHandle()>& start) {
    std::vector<unsigned char> src(bytes, 3), dst(bytes, 4);
    engine.copy(dst.data(), src.data(), bytes);
    Probes p;
    auto probe = [&] {
        sleep_s(pause_s);
        const auto t0 = Clock::now();
        engine.copy(dst.data(), src.data(), bytes);
        return seconds_since(t0);
    };
    {
        tilecopy::CopyHandle h = start();
        sleep_s(pause_s);
        for (int i = 0; i < count && !h.done(); ++i) {
            const double t = probe();
            if (!h.done()) p.busy_s.push_back(t);
        }
        h.cancel();
        settle(h);
    }
    for (int i = 0; i < count; ++i) p.alone_s.push_back(probe());
    return p;
}

CancelTiming time_cancel(const std::function<tilecopy::CopyHandle()>& start, double after_s, CancelWait how) {
    tilecopy::CopyHandle h = start();
    sleep_s(after_s);
    if (h.done()) {
        settle(h);
        return {kNaN, kNaN, kNaN, kNaN, kNaN};
    }
    // Read last thing before the call, so that blocks that end between this look and the call
    // (this thread preempted there, say) are not counted as copied after it.
    const double at_call = h.seconds();
    const auto t0 = Clock::now();
    const std::uint64_t before = h.bytes_copied();
    h.cancel();
    CancelTiming out;
    out.returned_s = seconds_since(t0);
    if (how == CancelWait::Block) {
        if (settle(h)) return {kNaN, kNaN, kNaN, kNaN, kNaN}; // its last block ran before the cancel was seen
        out.stopped_s = out.done_s = kNaN;
        out.finished_s = h.seconds() - at_call;
        out.bytes_after = static_cast<double>(h.bytes_copied() - before);
        return out;
    }
    // Watch the progress count until the copy is done, yielding between looks so that the
    // copy's threads keep the cores: when it last moved is when the copy stopped (as this
    // thread saw it: a look may come a time slice late, and then sees done() as well).
    std::uint64_t last = h.bytes_copied();
    out.stopped_s = last != before ? out.returned_s : 0;
    for (;;) {
        const bool done = h.done();
        const std::uint64_t now = h.bytes_copied();
        if (now != last) {
            last = now;
            out.stopped_s = seconds_since(t0);
        }
        if (done) break;
        std::this_thread::yield();
    }
    out.done_s = seconds_since(t0);
    out.finished_s = h.seconds() - at_call;
    if (settle(h)) return {kNaN, kNaN, kNaN, kNaN, kNaN}; // its last block ran before the cancel was seen
    out.bytes_after = static_cast<double>(last - before);
    return out;
}

} // namespace bench::async
