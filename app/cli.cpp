#include "app/cli.h"

#include <cstdio>
#include <cstring>

namespace umt5::cli {

int run(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
        std::printf("umt5 %s\n", UMT5_VERSION);
        return 0;
    }
    std::fprintf(stderr, "usage: umt5 --version\n");
    return 2;
}

}  // namespace umt5::cli
