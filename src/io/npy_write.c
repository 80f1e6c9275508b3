/* The .npy writer: a magic string, a Python-dict header padded with spaces to a multiple of 64
 * bytes (so the data is aligned), then the raw little-endian data. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ncssl/afile.h"
#include "ncssl/npy.h"
#include "ncssl/status.h"

static const char *descr(nc_st_dtype dt) {
  switch (dt) {
    case NC_ST_F32:
      return "<f4";
    case NC_ST_F64:
      return "<f8";
    case NC_ST_I64:
      return "<i8";
    case NC_ST_I32:
      return "<i4";
    case NC_ST_U8:
      return "|u1";
  }
  return NULL;
}

int nc_npy_write(const char *path, nc_st_dtype dt, int ndim, const int64_t *shape,
                 const void *data) {
  const char *d = descr(dt);
  if (!d || ndim < 0 || ndim > 4) return nc_fail(NC_EINVAL, "%s: npy: bad dtype or shape", path);
  char dims[128] = "";
  size_t count = 1, len = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return nc_fail(NC_EINVAL, "%s: npy: negative dimension", path);
    count *= (size_t)shape[i];
    len += (size_t)snprintf(dims + len, sizeof dims - len, "%" PRId64 "%s", shape[i],
                            ndim == 1      ? ","
                            : i + 1 < ndim ? ", "
                                           : "");
  }
  char header[256];
  int n = snprintf(header, sizeof header,
                   "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", d, dims);
  /* magic (6) + version (2) + length (2) + header + '\n', padded to 64 bytes */
  int total = 10 + n + 1, padded = (total + 63) / 64 * 64;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  pre[8] = (unsigned char)((padded - 10) & 0xff);
  pre[9] = (unsigned char)((padded - 10) >> 8);
  memset(header + n, ' ', (size_t)(padded - total));
  header[padded - 10 - 1] = '\n';
  nc_afile a;
  int rc = nc_afile_open(&a, path);
  if (rc) return rc;
  if (!rc) rc = nc_afile_write(&a, pre, sizeof pre);
  if (!rc) rc = nc_afile_write(&a, header, (size_t)(padded - 10));
  if (!rc) rc = nc_afile_write(&a, data, count * nc_st_dtype_size(dt));
  if (!rc) return nc_afile_commit(&a);
  nc_afile_abort(&a);
  return rc;
}
