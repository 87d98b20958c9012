// tilecopy-async-limits' workloads (docs/async.md, "Figures"): the foreground loops that stand in
// for training, the "state_dict" staged beside them, and the timings taken with them. Only
// async_workloads.cpp includes ATen.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/tilecopy.hpp>

namespace bench::async {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0);

// One step of a foreground loop, timed by the caller.
using Step = std::function<void()>;

// An n x n float32 matmul on `threads` torch threads (at::set_num_threads; at::matmul of one row
// panel a thread, in at::parallel_for), n sized at startup so that a step takes about `step_s`.
struct Matmul {
    Step step;
    int n = 0;
    double step_s = 0; // as measured when sized
};
Matmul make_matmul(int threads, double step_s);

// A synchronous engine copy of `bytes` between two buffers written once beforehand.
Step make_copy_step(tilecopy::CopyEngine& engine, std::size_t bytes);

// A state_dict-like set of float32 tensors totalling about `bytes`: an embedding and layers of
// attention and MLP weights with their biases and norms (a few hundred tensors, from a few KiB
// to tens of MiB). Sources hold a value per tensor; destinations are allocated and written
// once, so that staging finds them warm.
class StateDict {
public:
    explicit StateDict(std::size_t bytes);
    // copy_batch_async of every pair (the tensor form) under `limits`.
    tilecopy::CopyHandle stage(tilecopy::CopyEngine& engine, const tilecopy::AsyncOptions& limits) const;
    // Whether every destination equals its source (after a stage() that finished).
    bool staged_equal() const;
    // Writes -1 into every destination, so that the next stage() is seen to write them all.
    void clear_destinations() const;

    std::size_t bytes() const noexcept { return bytes_; }
    std::size_t tensors() const noexcept { return count_; }
    std::size_t largest() const noexcept { return largest_; }
    std::size_t smallest() const noexcept { return smallest_; }

private:
    struct Tensors;
    std::shared_ptr<Tensors> t_;
    std::size_t bytes_ = 0, count_ = 0, largest_ = 0, smallest_ = 0;
};

// Steps run alone: their times in seconds (`steps` of them, after one untimed).
std::vector<double> run_alone(const Step& step, int steps);

// A foreground loop beside a background copy, started again each time it finishes until `min_s`
// has passed (checkpoints back to back), and cancelled if it still runs at `max_s`.
struct Beside {
    std::vector<double> steps_s;      // the steps that started and ended while a copy ran
    double copy_bytes_per_second = 0; // the copies' bytes over their CopyHandle::seconds()
    bool finished = false;            // the last copy finished (false: cancelled at max_s)
};
Beside run_beside(const Step& step, const std::function<tilecopy::CopyHandle()>& start, double min_s, double max_s);
// The same copy with no foreground loop (the caller sleeps in wait_for).
Beside run_copy(const std::function<tilecopy::CopyHandle()>& start, double max_s);

// Synchronous copies of `bytes`, `count` of them, each after a pause of `pause_s`: their times
// alone, and while the copy `start` begins runs (those it ran beside to the end).
struct Probes {
    std::vector<double> alone_s, busy_s;
};
Probes time_probes(tilecopy::CopyEngine& engine, std::size_t bytes, int count, double pause_s,
                   const std::function<tilecopy::CopyHandle()>& start);

// A copy cancelled `after_s` after it started: how long cancel() took to return, when
// bytes_copied() last grew and when done() turned true (watched from this thread, which yields
// between looks so that the copy's threads keep the cores), all from the call; and how many
// bytes it copied after the call (the blocks its threads had claimed). NaN for a copy that
// finished before the cancel was seen.
struct CancelTiming {
    double returned_s = 0, stopped_s = 0, done_s = 0, bytes_after = 0;
    // When the copy finished by the handle's own clock (CopyHandle::seconds() at the end less at
    // the call): its last block had ended by then, whenever this thread got to look.
    double finished_s = 0;
};
// How the cancelling thread waits for the copy to end: watching bytes_copied() (yielding between
// looks; when the count last moved is measured, but the watcher holds a core the copy's threads
// may need to end their blocks), or blocked in wait(), as a caller that cancels and waits does
// (stopped_s and done_s are then NaN: nobody looks; finished_s says when the copy ended).
enum class CancelWait { Watch, Block };
CancelTiming time_cancel(const std::function<tilecopy::CopyHandle()>& start, double after_s,
                         CancelWait how = CancelWait::Watch);

} // namespace bench::async
