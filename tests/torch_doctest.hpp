// The include preamble of every tensor test: libtorch's headers bring glog's CHECK macros, and
// doctest's must win, so doctest comes after them with glog's undefined.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "torch_support.hpp"

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>
