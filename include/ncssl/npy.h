/* NumPy .npy files (format version 1.0, little-endian, C order), for handing arrays to Python:
 * numpy.load(path) reads them as written. */
#ifndef NCSSL_NPY_H
#define NCSSL_NPY_H
#include <stdint.h>

#include "ncssl/checkpoint.h"

/* Writes one array of dtype dt (F32, F64, I64, I32 or U8) and shape [ndim ≤ 4] atomically (the
 * file appears whole or not at all). Returns NC_OK, NC_EINVAL or NC_EIO. */
int nc_npy_write(const char *path, nc_st_dtype dt, int ndim, const int64_t *shape,
                 const void *data);

#endif
