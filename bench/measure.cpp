#include "measure.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <thread>

namespace bench {

namespace {

using Clock = std::chrono::steady_clock;

void sleep_ms(double ms) {
    if (ms > 0)
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
}

// Seconds per call over `calls` back-to-back calls.
double time_calls(const Variant& v, std::size_t calls) {
    auto start = Clock::now();
    for (std::size_t i = 0; i < calls; ++i)
        v.copy();
    std::chrono::duration<double> elapsed = Clock::now() - start;
    return elapsed.count() / static_cast<double>(calls);
}

// Enough back-to-back calls that one sample lasts at least min_sample_us. Each estimate is the
// fastest of a few batches: on a shared machine one batch can be descheduled and would
// otherwise leave a small copy timed one call at a time.
// After the pause every method's threads are asleep (OpenMP's spin for 3-20 ms here, tilecopy's
// helpers for Options::linger_us), and waking a sleeping vCPU takes up to ~2 ms on this VM: one
// untimed call would leave the timed calls to start before the other core has joined. Calls
// repeated for warmup_ms wake every method's threads and warm the caches its calls will find.
void warm_up(const Variant& v, const TimingSettings& settings) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<long>(settings.warmup_ms * 1e3));
    do v.copy();
    while (std::chrono::steady_clock::now() < until);
}

std::size_t calibrate(const Variant& v, const TimingSettings& settings) {
    const double target = settings.min_sample_us * 1e-6;
    constexpr std::size_t kMaxCalls = std::size_t(1) << 22;
    constexpr int kBatches = 3;
    // A call this slow needs no repetition, and more batches would only cost time (1 GiB).
    constexpr double kSlowCall = 20e-3;
    sleep_ms(settings.pause_ms);
    warm_up(v, settings);
    std::size_t calls = 1;
    for (;;) {
        double per_call = time_calls(v, calls);
        for (int b = 1; b < kBatches && per_call < kSlowCall; ++b)
            per_call = std::min(per_call, time_calls(v, calls));
        if (per_call * static_cast<double>(calls) >= target || calls >= kMaxCalls)
            return calls;
        double wanted = target / std::max(per_call, 1e-9) * 1.2;
        calls = std::min<std::size_t>(kMaxCalls, std::max<std::size_t>(calls * 2, static_cast<std::size_t>(wanted) + 1));
    }
}

double sample_seconds(const Variant& v, std::size_t calls, const TimingSettings& settings) {
    if (v.timing == Timing::Cold) {
        const double idle = v.idle_ms >= 0 ? v.idle_ms : settings.cold_idle_ms;
        // A stream starts once the previous method's threads have stopped spinning: an
        // OpenMP worker still spinning on the other vCPU takes it from this method's threads,
        // which is "something else between" the copies, not the condition timed here.
        if (v.lead_in > 0) sleep_ms(settings.pause_ms);
        for (int i = 0; i < v.lead_in; ++i) {
            v.copy();
            sleep_ms(idle);
        }
        if (v.lead_in == 0) sleep_ms(idle);
        if (v.prepare)
            v.prepare();
        return time_calls(v, 1);
    }
    sleep_ms(settings.pause_ms);
    warm_up(v, settings);
    return time_calls(v, calls);
}

void summarize(VariantResult& r) {
    if (r.gbps.empty())
        return;
    auto [lo, hi] = std::minmax_element(r.gbps.begin(), r.gbps.end());
    r.min_gbps = *lo;
    r.max_gbps = *hi;
    r.median_gbps = median(r.gbps);
    r.median_ratio = r.ratios.empty() ? std::numeric_limits<double>::quiet_NaN() : median(r.ratios);
}

} // namespace

double median(std::vector<double> values) {
    if (values.empty())
        return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    std::size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

SectionResult run_section(const Section& section, const TimingSettings& settings, const Progress& progress) {
    SectionResult out;
    out.name = section.name;
    out.size_bytes = section.size_bytes;
    out.src_bytes = section.src_bytes;
    out.dst_bytes = section.dst_bytes;
    const std::size_t n = section.variants.size();
    out.variants.resize(n);

    std::vector<std::size_t> timed; // indexes of the variants that passed verification
    for (std::size_t i = 0; i < n; ++i) {
        const Variant& v = section.variants[i];
        VariantResult& r = out.variants[i];
        r.method = v.method;
        r.label = v.label;
        r.timing = v.timing;
        r.target = v.target;
        progress(section.name + ": verifying " + v.label);
        try {
            r.failure = v.verify();
        } catch (const std::exception& e) {
            r.failure = std::string("threw: ") + e.what();
        }
        if (!r.failure.empty())
            continue;
        if (v.timing == Timing::Warm) {
            progress(section.name + ": calibrating " + v.label);
            r.calls_per_sample = calibrate(v, settings);
        } else {
            r.calls_per_sample = 1;
        }
        timed.push_back(i);
    }

    for (int round = 0; round < settings.rounds; ++round) {
        progress(section.name + ": round " + std::to_string(round + 1) + "/" + std::to_string(settings.rounds));
        // Rotating the order keeps any one method from always following the same neighbour.
        for (std::size_t k = 0; k < timed.size(); ++k) {
            std::size_t i = timed[(k + static_cast<std::size_t>(round)) % timed.size()];
            VariantResult& r = out.variants[i];
            double seconds = sample_seconds(section.variants[i], r.calls_per_sample, settings);
            r.gbps.push_back(static_cast<double>(section.dst_bytes) / seconds / 1e9);
        }
    }

    for (std::size_t i = 0; i < n; ++i) {
        VariantResult& r = out.variants[i];
        const std::vector<int>& best_of = section.variants[i].best_of;
        int ref = section.variants[i].reference;
        if (!best_of.empty()) {
            std::vector<const VariantResult*> others;
            for (int o : best_of)
                if (o >= 0 && static_cast<std::size_t>(o) < n && static_cast<std::size_t>(o) != i &&
                    out.variants[static_cast<std::size_t>(o)].gbps.size() == r.gbps.size() && !r.gbps.empty())
                    others.push_back(&out.variants[static_cast<std::size_t>(o)]);
            for (const VariantResult* o : others)
                r.reference_label += (r.reference_label.empty() ? "best of " : ", ") + o->label;
            if (!others.empty())
                r.reference_method = "best of";
            for (std::size_t k = 0; k < r.gbps.size() && !others.empty(); ++k) {
                double best = 0;
                for (const VariantResult* o : others) best = std::max(best, o->gbps[k]);
                r.ratios.push_back(r.gbps[k] / best);
            }
        } else if (ref >= 0 && static_cast<std::size_t>(ref) < n && static_cast<std::size_t>(ref) != i) {
            const VariantResult& base = out.variants[static_cast<std::size_t>(ref)];
            r.reference_label = base.label;
            r.reference_method = base.method;
            if (r.gbps.size() == base.gbps.size())
                for (std::size_t k = 0; k < r.gbps.size(); ++k)
                    r.ratios.push_back(r.gbps[k] / base.gbps[k]);
        }
        summarize(r);
    }
    if (section.notes)
        out.notes = section.notes(out);
    return out;
}

} // namespace bench
