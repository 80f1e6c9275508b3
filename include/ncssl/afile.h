/* Files written atomically: the content goes to a temporary file beside the target, which is
 * flushed, fsync'ed and renamed into place only when complete, so a failure or a kill at any
 * moment leaves either the previous file or the new one whole, never half of one. */
#ifndef NCSSL_AFILE_H
#define NCSSL_AFILE_H
#include <stdio.h>

typedef struct {
  FILE *f; /* write through this between open and commit */
  char path[4096];
  char tmp[4112];
} nc_afile;

/* Opens a temporary file beside `path` (same directory, ordinary permissions). Returns NC_OK or
 * NC_EIO with the path and the reason in the message. */
int nc_afile_open(nc_afile *a, const char *path);
/* Flushes, fsyncs and renames the temporary file onto the path (and fsyncs the directory).
 * On failure the temporary file is removed and the previous file, if any, is untouched. */
int nc_afile_commit(nc_afile *a);
/* Abandons the write: closes and removes the temporary file (safe to call after a failure). */
void nc_afile_abort(nc_afile *a);

#endif
