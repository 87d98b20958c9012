// Symbol visibility: the libraries are built with hidden visibility, so only what is marked
// TILECOPY_API is exported.
#pragma once

#if defined(_WIN32)
#define TILECOPY_API
#else
#define TILECOPY_API __attribute__((visibility("default")))
#endif
