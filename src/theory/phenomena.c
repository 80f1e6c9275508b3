#include "ncssl/phenomena.h"

#include <string.h>

#include "ncssl/status.h"

static int count_rows(const nc_phenomenon_fn *rows) {
  int n = 0;
  while (rows[n]) n++;
  return n;
}

int nc_phenomena_count(void) {
  return count_rows(nc_phenomena_modes_rows) + count_rows(nc_phenomena_linear_rows) +
         count_rows(nc_phenomena_more_rows);
}

int nc_phenomena_run(nc_phenomenon *rows) {
  const nc_phenomenon_fn *lists[3] = {nc_phenomena_modes_rows, nc_phenomena_linear_rows,
                                      nc_phenomena_more_rows};
  int k = 0;
  for (int l = 0; l < 3; l++)
    for (const nc_phenomenon_fn *f = lists[l]; *f; f++, k++) {
      memset(&rows[k], 0, sizeof rows[k]);
      int rc = (*f)(&rows[k]);
      if (rc) return rc;
    }
  return NC_OK;
}
