#pragma once
// The one exception type the core throws: a one-line message meant for the user, naming the file and the
// object (tensor, key, field) at fault.
#include <stdexcept>
#include <string>

namespace umt5 {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown when a caller's stop flag interrupts loading, encoding or generation.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

}  // namespace umt5
