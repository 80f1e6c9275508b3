#include "ncssl/afile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/status.h"

static int fail(nc_afile *a, const char *step) {
  int err = errno ? errno : EIO;
  nc_afile_abort(a);
  return nc_fail(NC_EIO, "cannot write '%s': %s%s%s", a->path, step, *step ? ": " : "",
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
    a->tmp[0] = '\0'; /* nothing was created: nothing to remove */
    return fail(a, "");
  }
  /* mkstemp makes the file private (0600); give it the permissions an ordinary file gets. */
  mode_t mask = umask(0);
  umask(mask);
  if (fchmod(fd, 0666 & ~mask) != 0 || !(a->f = fdopen(fd, "wb"))) {
    int err = errno;
    close(fd);
    errno = err;
    return fail(a, "");
  }
  return NC_OK;
}

int nc_afile_write(nc_afile *a, const void *data, size_t n) {
  errno = 0;
  if (n && fwrite(data, 1, n, a->f) != n) return fail(a, "write");
  return NC_OK;
}

/* fsync of the directory makes the rename itself durable. */
static int sync_parent_dir(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    strcpy(dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int nc_afile_commit(nc_afile *a) {
  errno = 0;
  if (fflush(a->f) != 0 || ferror(a->f)) return fail(a, "write");
  if (fsync(fileno(a->f)) != 0) return fail(a, "fsync");
  int rc = fclose(a->f);
  a->f = NULL;
  if (rc != 0) return fail(a, "close");
  if (rename(a->tmp, a->path) != 0) return fail(a, "rename");
  a->tmp[0] = '\0';
  if (sync_parent_dir(a->path) != 0) return fail(a, "fsync directory");
  return NC_OK;
}

void nc_afile_abort(nc_afile *a) {
  if (a->f) fclose(a->f);
  a->f = NULL;
  if (a->tmp[0]) unlink(a->tmp);
  a->tmp[0] = '\0';
}

int nc_write_atomic(const char *path, const void *data, size_t len) {
  nc_afile a;
  int rc = nc_afile_open(&a, path);
  if (rc == NC_OK) rc = nc_afile_write(&a, data, len);
  if (rc == NC_OK) rc = nc_afile_commit(&a);
  return rc;
}

int nc_mkdir_p(const char *dir) {
  if (!dir[0]) return nc_fail(NC_EINVAL, "cannot create a directory with an empty name");
  char p[4096];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
    return nc_fail(NC_EIO, "cannot create directory '%.200s...': path too long", dir);
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0') continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
      return nc_fail(NC_EIO, "cannot create directory %s: %s", p, strerror(errno));
    *s = c;
    if (c == '\0') break;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return nc_fail(NC_EIO, "cannot create directory %s: a file of that name exists", dir);
  return NC_OK;
}
