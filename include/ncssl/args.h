/* Declarative command-line options: each command lists its options once; the parser checks
 * types and ranges and names the bad flag or value in one message; --help prints every option
 * with its default (the value in the destination when parsing starts). */
#ifndef NCSSL_ARGS_H
#define NCSSL_ARGS_H
#include <stdio.h>

#define NC_MAX_LIST 64
#define NC_MAX_OPTS 96

typedef enum {
  NC_OPT_FLAG,    /* int*: set to 1 when present (no value) */
  NC_OPT_INT,     /* long* */
  NC_OPT_DOUBLE,  /* double* */
  NC_OPT_STRING,  /* const char** */
  NC_OPT_CHOICE,  /* const char**: one of `choices` ("a|b|c") */
  NC_OPT_DOUBLES, /* nc_doubles*: comma-separated list */
} nc_opt_type;

typedef struct {
  double v[NC_MAX_LIST];
  int n;
} nc_doubles;

typedef struct {
  const char *name; /* long name without "--" */
  nc_opt_type type;
  void *dst;
  const char *help;
  double lo, hi; /* inclusive bounds for numbers, active when has_lo / has_hi */
  unsigned char has_lo, has_hi, lo_open;
  const char *choices;
} nc_opt;

/* Range shorthands for nc_opt initializers. */
#define NC_NONNEG .lo = 0, .has_lo = 1
#define NC_POSITIVE .lo = 0, .has_lo = 1, .lo_open = 1
#define NC_PROB .lo = 0, .hi = 1, .has_lo = 1, .has_hi = 1
#define NC_RANGE(a, b) .lo = (a), .hi = (b), .has_lo = 1, .has_hi = 1

typedef struct {
  const char *command;  /* e.g. "theory fixed-points" */
  const char *synopsis; /* one line shown under "usage:" */
  const char *summary;  /* one or more lines describing the command */
  const nc_opt *opts;
  int nopts;
  int max_positional; /* how many bare arguments are allowed (0 = none) */
} nc_cmd_spec;

typedef struct {
  const char *positional[NC_MAX_LIST];
  int npositional;
  int help; /* --help was given: help was printed, the caller should return 0 */
  unsigned char given[NC_MAX_OPTS]; /* given[k]: spec->opts[k] appeared on the command line */
} nc_args;

/* Parses argv[0..argc) (argv[0] is the first option, not the program). Returns NC_OK or
 * NC_EUSAGE with a message such as "--sigma2: expected a number, got 'abc'". */
int nc_args_parse(const nc_cmd_spec *spec, int argc, char **argv, nc_args *out);
/* 1 when the option `name` appeared on the command line (for options whose default is a real
 * value, so "not given" cannot be told from the value). */
int nc_args_given(const nc_args *args, const nc_cmd_spec *spec, const char *name);
/* The option a mistyped or foreign flag most likely means ("--batch-size", "-b" -> "batch",
 * "--weight_decay" -> "wd", "--bacth" -> "batch"): the command's own flag with dashes for
 * underscores, then the common PyTorch / solo-learn spellings mapped to ours, then the closest
 * own flag by edit distance (1 edit for up to 4 letters, 2 up to 8, 3 beyond). NULL when nothing is
 * close. */
const char *nc_args_suggest(const nc_cmd_spec *spec, const char *flag);
/* Prints usage, summary and every option with its default to f. */
void nc_args_help(const nc_cmd_spec *spec, FILE *f);
/* Parses a double in full (no trailing junk, finite). Returns NC_OK or NC_EUSAGE. */
int nc_parse_double(const char *what, const char *text, double *out);
/* Parses a comma-separated list of finite doubles. */
int nc_parse_doubles(const char *what, const char *text, nc_doubles *out);

#endif
