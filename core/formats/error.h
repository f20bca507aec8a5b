#pragma once
// The one exception type the core throws: a one-line message meant for the user, naming the file and the
// object (tensor, key, field) at fault.
#include <stdexcept>
#include <string>

namespace umt5 {

class Error : public std::runtime_error {
public:
    // NUL bytes (a tensor name or file name from a hostile file may hold them) are shown as \0, and line
    // breaks as \n: what() is read as a C string, so the message would end at the first NUL, and it is one line.
    explicit Error(const std::string& message) : std::runtime_error(printable(message)) {}

private:
    static std::string printable(const std::string& message) {
        if (message.find_first_of(std::string("\0\n\r", 3)) == std::string::npos) return message;
        std::string out;
        for (char c : message) {
            if (c == '\0') out += "\\0";
            else if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else out += c;
        }
        return out;
    }
};

// Thrown when a caller's stop flag interrupts loading, encoding or generation.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

}  // namespace umt5
