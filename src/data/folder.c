/* Image-folder trees (torchvision ImageFolder layout): root/CLASS/IMAGE. Classes are the sorted
 * sub-folder names; images (.jpg .jpeg .png) are taken in sorted order, other files ignored. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ncssl/data.h"
#include "ncssl/status.h"

typedef struct {
  char **v;
  int n, cap;
} strlist;

static void strlist_free(strlist *s) {
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

static int strlist_push(strlist *s, const char *str) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    char **v = realloc(s->v, sizeof(char *) * cap);
    if (!v) return NC_ENOMEM;
    s->v = v, s->cap = cap;
  }
  if (!(s->v[s->n] = strdup(str))) return NC_ENOMEM;
  s->n++;
  return NC_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Lists entries of dir (sorted) that are directories (want_dirs) or image files. */
static int list_dir(const char *dir, int want_dirs, strlist *out) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dir);
  if (!d) return nc_fail(NC_EIO, "%s: cannot open folder", dir);
  struct dirent *e;
  char path[PATH_MAX];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    int keep = want_dirs ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) && is_image_name(e->d_name));
    if (keep && strlist_push(out, e->d_name)) {
      closedir(d);
      strlist_free(out);
      return nc_fail(NC_ENOMEM, "%s: out of memory listing the folder", dir);
    }
  }
  closedir(d);
  if (out->n) qsort(out->v, out->n, sizeof(char *), cmp_str);
  return NC_OK;
}

int nc_folder_probe(const char *root, int *image_size, int *channels) {
  strlist classes, names = {0};
  int rc = list_dir(root, 1, &classes);
  if (rc) return rc;
  char path[PATH_MAX] = "";
  for (int k = 0; k < classes.n && !names.n && !rc; k++) {
    snprintf(path, sizeof path, "%s/%s", root, classes.v[k]);
    rc = list_dir(path, 0, &names);
  }
  if (!rc && !names.n) rc = nc_fail(NC_EFORMAT, "%s: no .jpg/.jpeg/.png images", root);
  char file[PATH_MAX];
  uint8_t *buf = NULL, *px = NULL;
  size_t len = 0;
  int h = 0, w = 0;
  if (!rc && snprintf(file, sizeof file, "%s/%s", path, names.v[0]) >= (int)sizeof file)
    rc = nc_fail(NC_EIO, "%s/%s: path too long", path, names.v[0]);
  if (!rc) rc = nc_read_file(file, &buf, &len);
  if (!rc) rc = nc_image_decode_raw(buf, len, file, 3, &px, &h, &w);
  if (!rc) {
    /* Gray when R = G = B everywhere (a gray PNG or JPEG decodes to three equal planes). */
    size_t plane = (size_t)h * w, p = 0;
    while (p < plane && px[p] == px[plane + p] && px[p] == px[2 * plane + p]) p++;
    *image_size = h < w ? h : w;
    *channels = p == plane ? 1 : 3;
  }
  free(buf), free(px);
  strlist_free(&names);
  strlist_free(&classes);
  return rc;
}

int nc_folder_read(const char *root, int image_size, int channels, nc_dataset *out) {
  memset(out, 0, sizeof *out);
  if (image_size <= 0 || (channels != 1 && channels != 3))
    return nc_fail(NC_EINVAL, "%s: bad image size or channels", root);
  strlist classes, files = {0};
  int rc = list_dir(root, 1, &classes);
  if (rc) return rc;
  if (classes.n == 0) {
    strlist_free(&classes);
    return nc_fail(NC_EFORMAT, "%s: no class sub-folders", root);
  }
  /* First pass: every file path and its class, so the dataset is allocated once. */
  int32_t *labels = NULL;
  char path[PATH_MAX];
  for (int k = 0; k < classes.n && !rc; k++) {
    snprintf(path, sizeof path, "%s/%s", root, classes.v[k]);
    strlist names;
    if ((rc = list_dir(path, 0, &names))) break;
    int32_t *nl = realloc(labels, sizeof(int32_t) * (files.n + names.n + 1));
    if (!nl)
      rc = nc_fail(NC_ENOMEM, "%s: out of memory", root);
    else
      labels = nl;
    for (int i = 0; i < names.n && !rc; i++) {
      char file[PATH_MAX];
      if (snprintf(file, sizeof file, "%s/%s", path, names.v[i]) >= (int)sizeof file) {
        rc = nc_fail(NC_EIO, "%s/%s: path too long", path, names.v[i]);
        break;
      }
      labels[files.n] = k;
      if (strlist_push(&files, file)) rc = nc_fail(NC_ENOMEM, "%s: out of memory", root);
    }
    strlist_free(&names);
  }
  if (!rc && files.n == 0) rc = nc_fail(NC_EFORMAT, "%s: no .jpg/.jpeg/.png images", root);
  if (!rc) rc = nc_dataset_alloc(out, files.n, channels, image_size, image_size, classes.n);
  for (int i = 0; i < files.n && !rc; i++) {
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = nc_read_file(files.v[i], &buf, &len);
    if (!rc)
      rc = nc_image_decode(buf, len, files.v[i], channels, image_size,
                           out->pixels + (size_t)i * nc_dataset_image_bytes(out));
    free(buf);
    out->labels[i] = labels[i];
  }
  if (rc) nc_dataset_free(out);
  free(labels);
  strlist_free(&files);
  strlist_free(&classes);
  return rc;
}
