/* Private to src/io: a file written through a temporary beside it and renamed into place only when
 * every byte is on disk, so readers see the old file or the new one, never a part. */
#ifndef NCSSL_IO_ATOMIC_H
#define NCSSL_IO_ATOMIC_H
#include <stddef.h>

typedef struct {
  int fd;
  char *path, *tmp;
} nc_atomic_file;

/* Creates PATH.tmp.XXXXXX in the same directory. Returns NC_OK, NC_EIO or NC_ENOMEM. */
int nc_atomic_open(nc_atomic_file *a, const char *path);
/* Writes all n bytes (retrying short writes). On failure the file is aborted and NC_EIO returned.
 */
int nc_atomic_write(nc_atomic_file *a, const void *data, size_t n);
/* fsync, close, rename over the path, fsync the directory. On failure the temporary is removed and
 * the old file stays. Returns NC_OK or NC_EIO. */
int nc_atomic_commit(nc_atomic_file *a);
/* Closes and removes the temporary (safe after a failed write or commit). */
void nc_atomic_abort(nc_atomic_file *a);

#endif
