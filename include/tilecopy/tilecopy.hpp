// Umbrella header for the core library (no libtorch needed). Tensor copies:
// <tilecopy/torch.hpp>.
#pragma once

#include <tilecopy/async_runner.hpp>
#include <tilecopy/checksum.hpp>
#include <tilecopy/copy_engine.hpp>
#include <tilecopy/copy_handle.hpp>
#include <tilecopy/error.hpp>
#include <tilecopy/info.hpp>
#include <tilecopy/memory.hpp>
#include <tilecopy/options.hpp>
#include <tilecopy/request.hpp>
#include <tilecopy/version.hpp>
