/* Plots in a build without PLplot (cmake -DNCSSL_PLOT=OFF, e.g. a GPU machine's build): every
 * figure request fails with one clear error; everything else works. */
#include "ncssl/plot.h"
#include "ncssl/status.h"

int nc_plot_write_file(const nc_figure *fig, const char *path, const char *format) {
  (void)fig, (void)format;
  return nc_fail(NC_EIO, "%s: this ncssl was built without PLplot (NCSSL_PLOT=OFF)", path);
}

int nc_plot_write(const nc_figure *fig, const char *stem) {
  (void)fig;
  return nc_fail(NC_EIO, "%s: this ncssl was built without PLplot (NCSSL_PLOT=OFF)", stem);
}
