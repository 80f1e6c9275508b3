#include "ncssl/afile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

/* "is a FIFO", "is a directory", ...: what a path is when it is not a regular file. */
static const char *kind_of(mode_t m) {
  if (S_ISFIFO(m)) return "is a FIFO";
  if (S_ISCHR(m)) return "is a character device";
  if (S_ISBLK(m)) return "is a block device";
  if (S_ISDIR(m)) return "is a directory";
  if (S_ISSOCK(m)) return "is a socket";
  if (S_ISLNK(m)) return "is a symbolic link";
  return "is not a regular file";
}

/* fd (opened with O_NONBLOCK) must be a regular file; then it is made blocking again. */
static int regular_or_close(int fd, const char *path) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return nc_fail(NC_EIO, "cannot open %s: %s", path, strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return nc_fail(NC_EIO, "%s: %s, not a regular file", path, kind_of(st.st_mode));
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return NC_OK;
}

static int open_failed(const char *path, int nofollow) {
  int err = errno;
  struct stat st;
  /* O_NOFOLLOW on a link fails with ELOOP: say what it is rather than "too many links". */
  if (nofollow && err == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
    return nc_fail(NC_EIO, "%s: is a symbolic link (refused inside a run directory)", path);
  return nc_fail(NC_EIO, "cannot open %s: %s", path, strerror(err));
}

int nc_open_input(const char *path, int nofollow, int *fd) {
  *fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
  if (*fd < 0) return open_failed(path, nofollow);
  int rc = regular_or_close(*fd, path);
  if (rc) *fd = -1;
  return rc;
}

int nc_fopen_input(const char *path, int nofollow, FILE **f) {
  int fd;
  *f = NULL;
  int rc = nc_open_input(path, nofollow, &fd);
  if (rc) return rc;
  if (!(*f = fdopen(fd, "rb"))) {
    close(fd);
    return nc_fail(NC_ENOMEM, "cannot open %s: out of memory", path);
  }
  return NC_OK;
}

int nc_open_run_file(const char *path, int append, FILE **f) {
  *f = NULL;
  int fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) return open_failed(path, 1);
  int rc = regular_or_close(fd, path);
  if (rc) return rc;
  /* Truncated or positioned only once it is known to be a regular file of the directory. */
  if ((!append && ftruncate(fd, 0) != 0) || (append && lseek(fd, 0, SEEK_END) < 0)) {
    int err = errno;
    close(fd);
    return nc_fail(NC_EIO, "cannot write %s: %s", path, strerror(err));
  }
  if (append) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_APPEND);
  if (!(*f = fdopen(fd, append ? "a+" : "w+"))) {
    close(fd);
    return nc_fail(NC_ENOMEM, "cannot open %s: out of memory", path);
  }
  return NC_OK;
}

int nc_mkdir_nofollow(const char *dir) {
  struct stat st;
  if (lstat(dir, &st) != 0) {
    if (errno != ENOENT)
      return nc_fail(NC_EIO, "cannot use directory %s: %s", dir, strerror(errno));
    int rc = nc_mkdir_p(dir);
    if (rc) return rc;
    if (lstat(dir, &st) != 0)
      return nc_fail(NC_EIO, "cannot use directory %s: %s", dir, strerror(errno));
  }
  if (S_ISLNK(st.st_mode))
    return nc_fail(NC_EIO,
                   "%s: is a symbolic link (refused: files are written only into a real "
                   "directory)",
                   dir);
  if (!S_ISDIR(st.st_mode))
    return nc_fail(NC_EIO, "%s: %s, not a directory", dir, kind_of(st.st_mode));
  return NC_OK;
}

int nc_remove_stale_tmp(const char *dir, const char *const *names) {
  DIR *d = opendir(dir);
  if (!d) {
    nc_fail(NC_EIO, "cannot read directory %s: %s", dir, strerror(errno));
    return -1;
  }
  int dfd = dirfd(d), removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    for (int i = 0; names[i]; i++) {
      size_t n = strlen(names[i]);
      /* NAME.tmp. + mkstemp's six characters, exactly. */
      if (strncmp(e->d_name, names[i], n) == 0 && strncmp(e->d_name + n, ".tmp.", 5) == 0 &&
          strlen(e->d_name + n + 5) == 6 && unlinkat(dfd, e->d_name, 0) == 0)
        removed++;
    }
  }
  closedir(d);
  return removed;
}
