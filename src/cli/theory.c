/* `ncssl theory <sub>`: dispatch to the theory-lab subcommands. */

#include "cli.h"

static const nc_subcommand subs[] = {
    {"fixed-points", cmd_theory_fixed_points,
     "fixed points and their stability at fixed tau (§4.7)"},
    {"modes", cmd_theory_modes, "integrate the decoupled per-mode dynamics (Eqns 11-13)"},
    {"phase", cmd_theory_phase, "draw the (p, s) phase portrait at fixed tau (Fig. 3)"},
    {"linear", cmd_theory_linear, "the full-matrix linear model: flow or minibatch SGD"},
    {"phenomena", cmd_theory_phenomena, "one experiment per claim of the paper, as a table"},
};

int cmd_theory(int argc, char **argv) {
  return nc_cli_dispatch("theory", subs, (int)(sizeof subs / sizeof subs[0]), argc, argv);
}
