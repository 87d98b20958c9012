#pragma once
#include <tilecopy/tilecopy.hpp>
