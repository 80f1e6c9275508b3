#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/runlog.h"
#include "ncssl/status.h"

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void nc_atomic_abort(nc_atomic_file *a) {
  if (a->fd >= 0) close(a->fd);
  if (a->tmp) unlink(a->tmp);
  free(a->tmp);
  free(a->path);
  a->fd = -1;
  a->tmp = a->path = NULL;
}

int nc_atomic_open(nc_atomic_file *a, const char *path) {
  a->fd = -1;
  a->path = dup_str(path);
  size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
  a->tmp = malloc(n);
  if (!a->path || !a->tmp) {
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    return nc_fail(NC_ENOMEM, "out of memory writing %s", path);
  }
  snprintf(a->tmp, n, "%s.tmp.XXXXXX", path);
  a->fd = mkstemp(a->tmp);
  if (a->fd < 0) {
    int e = errno;
    free(a->tmp);
    a->tmp = NULL; /* nothing was created: nothing to unlink */
    nc_atomic_abort(a);
    return nc_fail(NC_EIO, "cannot write %s: %s", path, strerror(e));
  }
  /* mkstemp creates 0600; a run's files are meant to be read by others like any output. */
  fchmod(a->fd, 0644);
  return NC_OK;
}

int nc_atomic_write(nc_atomic_file *a, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t k = write(a->fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      int e = k < 0 ? errno : EIO;
      int code = nc_fail(NC_EIO, "cannot write %s: %s", a->path, strerror(e));
      nc_atomic_abort(a);
      return code;
    }
    p += k;
    n -= (size_t)k;
  }
  return NC_OK;
}

/* fsync of the directory makes the rename itself durable. */
static int sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? malloc((size_t)(slash - path) + 2) : dup_str(".");
  if (!dir) return -1;
  if (slash) {
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, len);
    dir[len] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  free(dir);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int nc_atomic_commit(nc_atomic_file *a) {
  const char *step = "fsync";
  if (fsync(a->fd) != 0) goto fail;
  step = "close";
  int fd = a->fd;
  a->fd = -1;
  if (close(fd) != 0) goto fail;
  step = "rename";
  if (rename(a->tmp, a->path) != 0) goto fail;
  free(a->tmp);
  a->tmp = NULL; /* renamed: nothing left to remove */
  step = "fsync directory";
  if (sync_parent_dir(a->path) != 0) goto fail;
  nc_atomic_abort(a);
  return NC_OK;
fail:;
  int code = nc_fail(NC_EIO, "cannot write %s: %s: %s", a->path, step, strerror(errno));
  nc_atomic_abort(a);
  return code;
}

int nc_write_atomic(const char *path, const void *data, size_t len) {
  nc_atomic_file a;
  int rc = nc_atomic_open(&a, path);
  if (rc == NC_OK) rc = nc_atomic_write(&a, data, len);
  if (rc == NC_OK) rc = nc_atomic_commit(&a);
  return rc;
}

int nc_mkdir_p(const char *dir) {
  if (!dir[0]) return nc_fail(NC_EINVAL, "cannot create a directory with an empty name");
  char *p = dup_str(dir);
  if (!p) return nc_fail(NC_ENOMEM, "out of memory creating %s", dir);
  int rc = NC_OK;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0') continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      rc = nc_fail(NC_EIO, "cannot create directory %s: %s", p, strerror(errno));
      break;
    }
    *s = c;
    if (c == '\0') break;
  }
  struct stat st;
  if (rc == NC_OK && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
    rc = nc_fail(NC_EIO, "cannot create directory %s: a file of that name exists", dir);
  free(p);
  return rc;
}
