/* Placeholder until this command lands; replaced by its implementation. */
#include "cli.h"

int cmd_theory_linear(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nc_cli_error(NC_EXIT_FAIL, "theory linear: not built yet");
}
