#pragma once
// What the user reads for an exception that ends a request: its message, except for the library exceptions whose
// what() is a type name ("std::bad_alloc"), which say in words what went wrong.
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace umt5 {

inline std::string error_text(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e))
        return "not enough memory for this request (an allocation failed); try a shorter text, fewer tokens or "
               "a smaller model";
    if (dynamic_cast<const std::length_error*>(&e)) return "this request is too large to hold in memory";
    return e.what();
}

}  // namespace umt5
