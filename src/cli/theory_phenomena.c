/* `ncssl theory phenomena`: the table of the paper's claims, each measured from a run. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "ncssl/clock.h"
#include "ncssl/json.h"
#include "ncssl/phenomena.h"
#include "ncssl/status.h"

int cmd_theory_phenomena(int argc, char **argv) {
  int json = 0;
  const nc_opt opts[] = {{"json", NC_OPT_FLAG, &json, "print a JSON array of rows"}};
  const nc_cmd_spec spec = {
      "theory phenomena",
      "[--json]",
      "Runs one small experiment per claim of the paper (Theorems 1-3, the no-predictor remark,\n"
      "Observations #1-#10, DirectPred in the linear model) and prints claim, setting, what was\n"
      "measured, expected, measured and the verdict. Exit 0 only when every row reproduces.",
      opts,
      1,
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;

  int n = nc_phenomena_count();
  nc_phenomenon *rows = calloc((size_t)(n ? n : 1), sizeof *rows);
  if (!rows) return nc_cli_error(NC_EXIT_FAIL, "out of memory");
  double t0 = nc_now_seconds();
  rc = nc_phenomena_run(rows);
  double secs = nc_now_seconds() - t0;
  if (rc) {
    free(rows);
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  }
  int ok = 0;
  for (int i = 0; i < n; i++) ok += rows[i].reproduced;

  if (json) {
    printf("[\n");
    for (int i = 0; i < n; i++) {
      const nc_phenomenon *r = &rows[i];
      printf("  {\"claim\": ");
      nc_json_str(stdout, r->claim);
      printf(", \"setting\": ");
      nc_json_str(stdout, r->setting);
      printf(", \"quantity\": ");
      nc_json_str(stdout, r->quantity);
      printf(", \"expected\": ");
      nc_json_str(stdout, r->expected);
      printf(", \"measured\": ");
      nc_json_str(stdout, r->measured);
      printf(", \"reproduced\": %s}%s\n", r->reproduced ? "true" : "false", i + 1 < n ? "," : "");
    }
    printf("]\n");
  } else {
    for (int i = 0; i < n; i++) {
      const nc_phenomenon *r = &rows[i];
      printf("%2d. %-60s %s\n", i + 1, r->claim, r->reproduced ? "REPRODUCED" : "NOT REPRODUCED");
      printf("    setting:  %s\n    measured: %s\n    expected: %s\n    got:      %s\n\n",
             r->setting, r->quantity, r->expected, r->measured);
    }
    printf("%d of %d claims reproduced in %.2f s\n", ok, n, secs);
  }
  free(rows);
  return (ok == n && n > 0) ? NC_EXIT_OK : NC_EXIT_FAIL;
}
