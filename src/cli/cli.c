#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/status.h"

int nc_cli_error(int code, const char *msg) {
  fprintf(stderr, "ncssl: %s\n", msg ? msg : nc_last_error());
  return code;
}

int nc_cli_error_flag(int code, const char *flag) {
  fprintf(stderr, "ncssl: %s: %s\n", flag, nc_last_error());
  return code;
}

int nc_cli_exit_code(int status) {
  if (status == NC_OK) return NC_EXIT_OK;
  return (status == NC_EUSAGE || status == NC_EINVAL) ? NC_EXIT_USAGE : NC_EXIT_FAIL;
}

int nc_cli_parse(const nc_cmd_spec *spec, int argc, char **argv, nc_args *args) {
  int rc = nc_args_parse(spec, argc, argv, args);
  if (rc) return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (args->help) return NC_EXIT_OK;
  return -1;
}

int nc_cli_dispatch(const char *group, const nc_subcommand *subs, int nsubs, int argc,
                    char **argv) {
  if (argc < 1) {
    fprintf(stderr, "ncssl: %s: missing subcommand (see 'ncssl %s --help')\n", group, group);
    return NC_EXIT_USAGE;
  }
  if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
    printf("usage: ncssl %s <subcommand> [options]\n\nsubcommands:\n", group);
    for (int i = 0; i < nsubs; i++) printf("  %-13s %s\n", subs[i].name, subs[i].summary);
    return NC_EXIT_OK;
  }
  for (int i = 0; i < nsubs; i++)
    if (strcmp(argv[0], subs[i].name) == 0) return subs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "ncssl: %s: '%s' is not a subcommand (see 'ncssl %s --help')\n", group, argv[0],
          group);
  return NC_EXIT_USAGE;
}

int nc_cli_check_threads(const char *flag, long n) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
  if (n <= 4 * cores) return -1;
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %ld is more than 4 per core (this machine has %ld cores)", flag, n,
           cores);
  return nc_cli_error(NC_EXIT_USAGE, msg);
}
