#include "cli.h"

#include <stdio.h>

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
