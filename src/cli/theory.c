/* `ncssl theory <sub>`: dispatch to the theory-lab subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} subcommand;

static const subcommand subs[] = {
    {"fixed-points", cmd_theory_fixed_points,
     "fixed points and their stability at fixed tau (§4.7)"},
    {"modes", cmd_theory_modes, "integrate the decoupled per-mode dynamics (Eqns 11-13)"},
    {"phase", cmd_theory_phase, "draw the (p, s) phase portrait at fixed tau (Fig. 3)"},
    {"linear", cmd_theory_linear, "the full-matrix linear model: flow or minibatch SGD"},
    {"phenomena", cmd_theory_phenomena, "one experiment per claim of the paper, as a table"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: ncssl theory <subcommand> [options]\n\nsubcommands:\n");
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
    fprintf(f, "  %-13s %s\n", subs[i].name, subs[i].summary);
}

int cmd_theory(int argc, char **argv) {
  if (argc < 1)
    return nc_cli_error(NC_EXIT_USAGE, "theory: missing subcommand (see 'ncssl theory --help')");
  if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
    usage(stdout);
    return NC_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
    if (strcmp(argv[0], subs[i].name) == 0) return subs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "ncssl: theory: '%s' is not a subcommand (see 'ncssl theory --help')\n", argv[0]);
  return NC_EXIT_USAGE;
}
