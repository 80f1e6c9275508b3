/* Files written atomically: the content goes to a temporary file beside the target, which is
 * flushed, fsync'ed and renamed into place only when complete (then the directory is fsync'ed), so
 * a failure or a kill at any moment leaves either the previous file or the new one whole, never
 * half of one. Used for CSV logs, config.txt and safetensors checkpoints alike. */
#ifndef NCSSL_AFILE_H
#define NCSSL_AFILE_H
#include <stddef.h>
#include <stdio.h>

typedef struct {
  FILE *f; /* write through this (fprintf, fwrite) between open and commit */
  char path[4096];
  char tmp[4112];
} nc_afile;

/* Opens PATH.tmp.XXXXXX beside `path` (ordinary permissions). Returns NC_OK or NC_EIO with the
 * path and the reason in the message. */
int nc_afile_open(nc_afile *a, const char *path);
/* Writes n bytes; NC_EIO (and the write is abandoned) on failure. */
int nc_afile_write(nc_afile *a, const void *data, size_t n);
/* Flushes, fsyncs and renames the temporary file onto the path, then fsyncs the directory. On
 * failure the temporary file is removed and the previous file, if any, is untouched. */
int nc_afile_commit(nc_afile *a);
/* Abandons the write: closes and removes the temporary file (safe to call after a failure). */
void nc_afile_abort(nc_afile *a);
/* Replaces path with the given bytes atomically (open, write, commit). */
int nc_write_atomic(const char *path, const void *data, size_t len);
/* Creates a directory and its missing parents (like mkdir -p). Returns NC_OK or NC_EIO. */
int nc_mkdir_p(const char *dir);

#endif
