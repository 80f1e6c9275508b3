/* `ncssl train`'s option parsing, shared with `ncssl reproduce` (defined in train.c). */
#ifndef NCSSL_CLI_TRAIN_PREPARE_H
#define NCSSL_CLI_TRAIN_PREPARE_H
#include "ncssl/train.h"

/* One run's options (argv as on `ncssl train`'s command line, argv[0] the first option) parsed
 * and checked exactly as `ncssl train` checks them, into o. *config_text (malloc'd, free it) is
 * the text nc_train_run writes as config.txt once the run is validated. The strings in o
 * point into argv or static defaults. Returns -1 when ready, else the exit code after printing
 * the one error line. */
int nc_train_cli_prepare(int argc, char **argv, nc_train_opts *o, char **config_text);

#endif
