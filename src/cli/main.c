/* ncssl: one executable, git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"theory", cmd_theory,
     "the paper's linear dynamics: fixed points, modes, phase, linear, phenomena"},
    {"report", cmd_report, "the paper's pictures for training runs, on one static page"},
    {"train", cmd_train, "train BYOL / SimSiam / DirectPred on a dataset into a run directory"},
    {"eval", cmd_eval, "linear probe and kNN of a trained (or random) backbone"},
    {"embed", cmd_embed, "write a backbone's features and labels (safetensors or .npy)"},
    {"bench", cmd_bench, "benchmarks: the SSL training step"},
    {"reproduce", cmd_reproduce,
     "the paper's deep-network experiments as one suite, with verdicts"},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: ncssl <command> [options]   (ncssl <command> --help for each)\n\n"
          "Non-contrastive self-supervised learning (BYOL, SimSiam, DirectPred) and the theory of\n"
          "why it does not collapse (Tian, Chen & Ganguli, ICML 2021).\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "  %-10s %s\n  %-10s %s\n", "--version", "print the version", "--help",
          "show this help");
}

int main(int argc, char **argv) {
  if (argc < 2) return nc_cli_error(NC_EXIT_USAGE, "missing command (see 'ncssl --help')");
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    usage(stdout);
    return NC_EXIT_OK;
  }
  if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
    printf("ncssl %s\n", NCSSL_VERSION);
    return NC_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
  fprintf(stderr, "ncssl: '%s' is not a command (see 'ncssl --help')\n", name);
  return NC_EXIT_USAGE;
}
