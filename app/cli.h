#pragma once
// The `umt5` command-line tool: argument parsing and the subcommands, on top of umt5core.
namespace umt5::cli {
int run(int argc, char** argv);
}
