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

/* ---- Opening inputs and run-directory files safely ----
 * A FIFO would block a reader forever and a device (/dev/zero) would feed it without end, so every
 * input is opened without blocking and must be a regular file; files inside a run or report
 * directory are also opened with O_NOFOLLOW, so a symbolic link planted there is refused instead
 * of followed (the directory itself may be reached through links the user made). */

/* Opens path read-only; it must be a regular file (FIFOs, devices, directories are refused by
 * name), and with nofollow not a symbolic link. *fd is a blocking descriptor. Returns NC_OK or
 * NC_EIO ("PATH: is a FIFO, not a regular file"). */
int nc_open_input(const char *path, int nofollow, int *fd);
/* The same as a stdio stream ("rb"). */
int nc_fopen_input(const char *path, int nofollow, FILE **f);
/* Opens a run-directory file for writing, appending (append = 1) or truncated (0), created 0666 &
 * ~umask when missing, never through a symbolic link and only if it is a regular file. Returns
 * NC_OK or NC_EIO. */
int nc_open_run_file(const char *path, int append, FILE **f);
/* A directory that must not be a symbolic link (a report's or run's own subdirectory): created
 * when missing, refused with NC_EIO when it is a link or not a directory. */
int nc_mkdir_nofollow(const char *dir);
/* Removes the temporary files nc_afile_open leaves after a kill ("NAME.tmp.XXXXXX" for each NAME
 * of names, NULL-terminated) in dir. Returns the number removed, or -1 (NC_EIO set) when dir
 * cannot be read. */
int nc_remove_stale_tmp(const char *dir, const char *const *names);

#endif
