// The tensor part of tilecopy-stress, compiled only when the torch adapter is built, so that
// the rest of the tool (and a build without libtorch) never sees ATen.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include <tilecopy/copy_engine.hpp>

namespace tilecopy::stress {

struct TensorRound {
    std::uint64_t copies = 0;
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0;
    std::string first_error; // what went wrong first, for the report
};

// A few tensor copies of random dtypes and layouts through `engine`, each checked byte for
// byte against torch's copy_ on a twin destination.
TensorRound tensor_round(CopyEngine& engine, std::mt19937_64& rng);

} // namespace tilecopy::stress
