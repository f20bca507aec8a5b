#pragma once
// Memory-mapped ranges of files that another program may truncate while they are in use. Reading a page of a
// file mapping past the file's end raises SIGBUS, which kills the process: copying a new version of a model
// over its weight file (`cp`, which truncates first) while the model is loaded did exactly that. A range
// registered here is guarded by a SIGBUS handler (installed on the first registration, chaining to any handler
// already there for faults outside the ranges): it maps a page of zeros over the faulting page, so the read
// completes, and marks the range damaged. The code that read the range then calls check_mapped_read, which
// throws umt5::Error naming the file; so a truncated weight file ends generation with a one-line error instead
// of SIGBUS, and every later read of the range throws the same error.
//
// Only truncation raises SIGBUS. A file rewritten in place with other bytes of the same size is not detected:
// reads then see the new bytes, as pread would.
#include <cstddef>
#include <string>

namespace umt5 {

// Guards [begin, begin + length) (begin page-aligned) until unregister_mapping(begin) is called. `label` names
// the file and the object mapped, e.g. "model.safetensors: tensor shared.weight". Returns false when the table
// of guarded ranges (64) is full or the handler cannot be installed; the range then stays unguarded and the
// caller should not map it.
bool register_mapping(const void* begin, size_t length, std::string label);
void unregister_mapping(const void* begin);
// Throws umt5::Error "LABEL: the file was truncated while in use (...)" when the guarded range holding `p`
// faulted since it was registered. One relaxed atomic load when no range ever faulted.
void check_mapped_read(const void* p);

}  // namespace umt5
