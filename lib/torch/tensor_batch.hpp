// Tensor pairs carried out, one or many, now or on the engine's submitter thread: the one route
// every tensor copy takes once plan_pair (tensor_rules.cpp) has accepted it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/copy_engine.hpp>

#include "tensor_checksum.hpp"
#include "tensor_pair.hpp"

namespace tilecopy::detail {

// A batch planned whole: every pair accepted and decided, the pairs independent of each other.
struct BatchPlan {
    std::vector<PairPlan> pairs;
    std::uint64_t total_bytes = 0;
};

// Throws tilecopy::Error with nothing written. `indexed`: messages name the pair (batches).
BatchPlan plan_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs, bool indexed,
                     std::size_t min_run_bytes);

// Writes planned pairs (`count` of them, tensors alike indexed): the pairs for copy_ first, then
// one schedule per conversion for the kernels' runs; `progress` (a handle's) rises as blocks and
// pairs finish. Version counters are bumped once everything is written, as copy_ bumps after
// writing. With `sums`, sums->out[i] gets pair i's checksum (tensor_checksum.hpp); the caller has
// checked the destinations (check_checksummable).
void carry_out(CopyEngine& api, const PairPlan* pairs, std::size_t count, const at::Tensor* dsts,
               const at::Tensor* srcs, bool indexed, std::atomic<std::uint64_t>* progress,
               PairChecksums* sums = nullptr);

// plan_batch now, carry_out on the submitter thread (with the caller's torch thread-local state).
// With a checksum kind, the handle's checksums() gives one per pair. `limits`: the handle's
// AsyncOptions (a cancelled copy skips the copy_ pairs not yet started). `then`, if any, runs on
// the submitter thread once carry_out has returned, before the handle reports the copy done; it
// is dropped with the tensors when the copy ends, however it ends.
CopyHandle submit_batch(CopyEngine& api, std::vector<at::Tensor> dsts, std::vector<at::Tensor> srcs, bool indexed,
                        Checksum kind = Checksum::none, const AsyncOptions& limits = {},
                        std::function<void()> then = {});

} // namespace tilecopy::detail
