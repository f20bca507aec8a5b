#include <cstdio>
#include <exception>

#include "app/cli.h"

// run() turns every error of a command into one line; this catches what could still escape it (memory
// exhausted while the command line itself is being set up).
int main(int argc, char** argv) {
    try {
        return umt5::cli::run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "umt5: error: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "umt5: error: an unknown internal error\n");
    }
    return 1;
}
