#include "app/cli.h"

int main(int argc, char** argv) { return umt5::cli::run(argc, argv); }
