// The sections the benchmark times: what is copied, by which methods, compared with what.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "buffers.hpp"
#include "measure.hpp"

namespace bench {

struct Methods {
    bool memcpy = false;
    bool torch = false;           // at::Tensor::copy_
    bool omp = false;             // the DeepSpeed-style OpenMP copy
    bool tilecopy = false;        // CopyEngine::copy(void*, const void*, size_t)
    bool tilecopy_tensor = false; // CopyEngine::copy(const at::Tensor&, const at::Tensor&)
    bool tilecopy_batch = false;  // CopyEngine::copy_batch over many tensors (the "batch" rows)
    bool tilecopy_async = false;  // CopyEngine::copy_async of one large tensor (the "async" row)
};

struct Context {
    tilecopy::CopyEngine* engine = nullptr;
    // The engine forced to regular and to non-temporal stores, its other options as `engine`'s:
    // rows beside the default from 16 MiB on show the crossover and the default's choice.
    tilecopy::CopyEngine* forced_regular = nullptr;
    tilecopy::CopyEngine* forced_nt = nullptr;
    int threads = 1;              // for torch and the OpenMP baseline
    Methods methods;
    bool float_tensors = true;    // the tensor rows view the buffers as float32 (else uint8)
};

// The methods selected, on aligned buffers of `bytes` bytes; each compared with tilecopy.
Section copy_section(std::size_t bytes, const Context& ctx);
// tilecopy with the source and destination `src_offset` / `dst_offset` bytes off alignment,
// compared with tilecopy on aligned buffers.
Section misaligned_section(std::size_t bytes, std::size_t src_offset, std::size_t dst_offset, const Context& ctx);
// tilecopy with destination - source = 64 (mod 4 KiB), compared with tilecopy aligned.
Section aliased_section(std::size_t bytes, const Context& ctx);
// tilecopy and the OpenMP copy after an idle spell, compared with their warm figures.
Section cold_section(std::size_t bytes, const Context& ctx);

// isolated.cpp: one timed copy per round as a trainer issues them, under each condition (after an
// idle spell, right after a torch op, one of a stream with a gap), by memcpy, copy_, the OpenMP
// copy (from 1 MiB) and tilecopy, whose row is divided by the best of the others; and copies into
// a destination whose pages were never touched (page faults dominate: reported without a target).
struct Condition {
    std::string name;           // the label's suffix: "after 30 ms idle"
    double idle_ms = 0;         // before the timed call (and after each lead-in call)
    int lead_in = 0;            // Variant::lead_in
    std::function<void()> prepare;
    double target = 0;          // tilecopy's row's target ratio; 0: none
};
Condition idle_condition(double ms, double target);
Condition stream_condition(double gap_ms, double target);
Condition torch_op_condition(double target);
Section isolated_section(std::size_t bytes, const Context& ctx, const std::vector<Condition>& conditions);
Section fresh_pages_section(std::size_t bytes, const Context& ctx);

// A variant that copies `pair` with `copy` and verifies byte for byte.
Variant byte_copy_variant(std::string method, std::string label, std::shared_ptr<BufferPair> pair,
                          std::function<void()> copy);

// torch_methods.cpp: the tensor variants over `pair` (added when selected), and the
// dtype-converting sections (tilecopy's tensor copy against copy_).
void add_torch_copy_variant(Section& section, const std::shared_ptr<BufferPair>& pair, const Context& ctx);
void add_tilecopy_tensor_variant(Section& section, const std::shared_ptr<BufferPair>& pair, const Context& ctx);
enum class ConversionDirection { F32ToBF16, BF16ToF32 };
Section conversion_section(ConversionDirection direction, std::size_t f32_bytes, const Context& ctx);
void set_torch_threads(int threads);

// torch_batch_methods.cpp: copy_batch over `pairs` float32 tensors of `bytes_each` bytes against
// loops of copy_ and of CopyEngine::copy (when those methods are selected); copy_async of one
// `bytes` tensor against a synchronous copy, with its time to return as a note.
Section batch_section(std::size_t pairs, std::size_t bytes_each, const Context& ctx);
Section async_section(std::size_t bytes, const Context& ctx);
std::string torch_version();
// clone_methods.cpp: CopyEngine::clone of a `bytes` float32 tensor against torch's clone(),
// memcpy into fresh pages and tilecopy into a fresh torch.empty (ratios to torch's clone), with
// the engine's warm copy of the same size beside them.
Section clone_section(std::size_t bytes, const Context& ctx);

} // namespace bench
