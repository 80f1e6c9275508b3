/* --device / --precision for train, eval and bench step: the backend the command computes on. */
#include "cli.h"
#include "ncssl/backend.h"
#include "ncssl/status.h"

int nc_cli_open_backend(const char *device, const char *precision, nc_backend **be) {
  int rc = nc_backend_open(be, device, precision);
  if (rc == NC_OK) return -1;
  /* a malformed value is bad usage (2); a device that is not there is a runtime failure (1) */
  return nc_cli_error(rc == NC_EUSAGE ? NC_EXIT_USAGE : NC_EXIT_FAIL, NULL);
}
