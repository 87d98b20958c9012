// The one exception type thrown at tilecopy's API edge.
#pragma once

#include <stdexcept>
#include <string>

#include <tilecopy/export.hpp>

namespace tilecopy {

// Thrown for every rejected input; the message names what is wrong (pointers, sizes, shapes,
// dtypes, devices). When a copy is rejected, nothing has been written to its destination.
class TILECOPY_API Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    ~Error() override;
};

} // namespace tilecopy
