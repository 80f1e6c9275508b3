#include "ncssl/afile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/status.h"

static int fail(nc_afile *a, const char *what) {
  int err = errno ? errno : EIO;
  nc_afile_abort(a);
  return nc_fail(NC_EIO, "cannot write '%s': %s%s%s", a->path, what, *what ? ": " : "",
                 strerror(err));
}

int nc_afile_open(nc_afile *a, const char *path) {
  a->f = NULL;
  a->tmp[0] = '\0';
  if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
    return nc_fail(NC_EIO, "cannot write '%.200s...': path too long", path);
  snprintf(a->tmp, sizeof a->tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(a->tmp);
  if (fd < 0) {
    a->tmp[0] = '\0';
    return fail(a, "");
  }
  /* mkstemp makes the file private (0600); give it the permissions an ordinary file gets. */
  mode_t mask = umask(0);
  umask(mask);
  if (fchmod(fd, 0666 & ~mask) != 0 || !(a->f = fdopen(fd, "w"))) {
    int err = errno;
    close(fd);
    errno = err;
    return fail(a, "");
  }
  return NC_OK;
}

int nc_afile_commit(nc_afile *a) {
  errno = 0;
  if (fflush(a->f) != 0 || ferror(a->f)) return fail(a, "write failed");
  if (fsync(fileno(a->f)) != 0) return fail(a, "fsync failed");
  int rc = fclose(a->f);
  a->f = NULL;
  if (rc != 0) return fail(a, "close failed");
  if (rename(a->tmp, a->path) != 0) return fail(a, "rename failed");
  a->tmp[0] = '\0';
  /* Make the rename itself durable. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", a->path);
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return NC_OK;
}

void nc_afile_abort(nc_afile *a) {
  if (a->f) fclose(a->f);
  a->f = NULL;
  if (a->tmp[0]) unlink(a->tmp);
  a->tmp[0] = '\0';
}
