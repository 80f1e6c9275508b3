/* Dataset memory, whole-file reading (with gzip), and loading by name. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "ncssl/afile.h"
#include "ncssl/data.h"
#include "ncssl/status.h"

/* Largest inflated file accepted: a guard against a corrupt or hostile gzip header. */
#define NC_MAX_INFLATED ((size_t)8 << 30)

int nc_dataset_alloc(nc_dataset *d, int n, int c, int h, int w, int classes) {
  memset(d, 0, sizeof *d);
  if (n < 0 || c <= 0 || h <= 0 || w <= 0) return nc_fail(NC_EINVAL, "dataset: bad shape");
  size_t bytes = (size_t)n * c * h * w;
  d->pixels = calloc(bytes ? bytes : 1, 1);
  d->labels = malloc(sizeof(int32_t) * (n ? (size_t)n : 1));
  if (!d->pixels || !d->labels) {
    nc_dataset_free(d);
    return nc_fail(NC_ENOMEM, "dataset: out of memory for %d images of %dx%dx%d", n, c, h, w);
  }
  for (int i = 0; i < n; i++) d->labels[i] = -1;
  d->n = n, d->c = c, d->h = h, d->w = w, d->classes = classes;
  return NC_OK;
}

void nc_dataset_free(nc_dataset *d) {
  if (!d) return;
  free(d->pixels);
  free(d->labels);
  memset(d, 0, sizeof *d);
}

/* The size an IDX file declares in its header (magic 00 00 08 NDIM, NDIM big-endian sizes): the
 * header plus the product of the sizes; 0 while fewer bytes than the header are known or when the
 * bytes are not an IDX header. */
static size_t idx_declared_size(const uint8_t *p, size_t n) {
  if (n < 4 || p[0] || p[1] || p[2] != 0x08 || p[3] < 1 || p[3] > 4) return 0;
  size_t head = 4 + 4 * (size_t)p[3], total = 1;
  if (n < head) return 0;
  for (int i = 0; i < p[3]; i++) {
    const uint8_t *d = p + 4 + 4 * i;
    uint64_t dim = (uint64_t)d[0] << 24 | (uint64_t)d[1] << 16 | (uint64_t)d[2] << 8 | d[3];
    if (__builtin_mul_overflow(total, (size_t)dim, &total) || total > NC_MAX_INFLATED)
      return NC_MAX_INFLATED;
  }
  return head + total;
}

/* Inflates a gzip file. When the content is an IDX file, its header says how many bytes to expect:
 * inflation stops one byte past that (the decoder then reports the size mismatch), so a small
 * file that inflates to gigabytes costs no more memory than its header declares. */
static int inflate_all(const char *path, const uint8_t *in, size_t in_len, uint8_t **data,
                       size_t *len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return nc_fail(NC_ENOMEM, "%s: zlib init", path);
  size_t cap = 4096, used = 0, limit = NC_MAX_INFLATED;
  uint8_t *buf = malloc(cap);
  int rc = Z_OK;
  z.next_in = (Bytef *)in;
  while (buf) {
    size_t chunk = in_len - (size_t)(z.next_in - in);
    z.avail_in = chunk > UINT_MAX ? UINT_MAX : (uInt)chunk;
    size_t declared = idx_declared_size(buf, used);
    if (declared && declared < NC_MAX_INFLATED) limit = declared + 1;
    if (used >= limit) {
      rc = Z_MEM_ERROR;
      break;
    }
    if (used == cap) {
      size_t grow = cap * 2 < limit ? cap * 2 : limit;
      uint8_t *nb = realloc(buf, grow);
      if (!nb) break;
      buf = nb, cap = grow;
    }
    size_t room = cap - used;
    /* Until the IDX header is known, inflate only a few bytes, so the limit applies early. */
    if (used < 64 && room > 64 - used) room = 64 - used;
    z.next_out = buf + used;
    z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
    uInt before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    used += before - z.avail_out;
    if (rc == Z_STREAM_END) {
      /* Another gzip member may follow (concatenated files). */
      if ((size_t)(z.next_in - in) < in_len && inflateReset(&z) == Z_OK) continue;
      break;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && (size_t)(z.next_in - in) == in_len) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
  }
  inflateEnd(&z);
  if (!buf) return nc_fail(NC_ENOMEM, "%s: out of memory while decompressing", path);
  if (rc == Z_MEM_ERROR) {
    free(buf);
    if (limit < NC_MAX_INFLATED)
      return nc_fail(NC_EFORMAT,
                     "%s: decompresses to more than the %zu bytes its IDX header declares", path,
                     limit - 1);
    return nc_fail(NC_EFORMAT, "%s: decompresses to more than %zu bytes", path, NC_MAX_INFLATED);
  }
  if (rc != Z_STREAM_END) {
    free(buf);
    return nc_fail(NC_EFORMAT, "%s: %s", path,
                   rc == Z_DATA_ERROR ? "corrupt gzip data" : "truncated gzip data");
  }
  *data = buf;
  *len = used;
  return NC_OK;
}

int nc_read_file(const char *path, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = NULL;
  int orc = nc_fopen_input(path, 0, &f); /* a FIFO or device is refused, never waited on */
  if (orc) return orc;
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    fclose(f);
    return nc_fail(NC_EIO, "%s: %s", path, strerror(errno));
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) {
    fclose(f);
    return nc_fail(NC_ENOMEM, "%s: out of memory for %zu bytes", path, n);
  }
  size_t got = fread(buf, 1, n, f);
  int err = ferror(f);
  fclose(f);
  if (got != n || err) {
    free(buf);
    return nc_fail(NC_EIO, "%s: read error", path);
  }
  if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
    int rc = inflate_all(path, buf, n, data, len);
    free(buf);
    return rc;
  }
  *data = buf;
  *len = n;
  return NC_OK;
}

const char *nc_dataset_default_dir(const char *name) {
  if (!name) return "";
  if (!strcmp(name, "fashion-mnist")) return "/usr/share/datasets/fashion-mnist";
  if (!strcmp(name, "mnist")) return "/usr/share/datasets/mnist";
  if (!strcmp(name, "cifar10")) return "data/cifar-10-batches-bin";
  if (!strcmp(name, "cifar100")) return "data/cifar-100-binary";
  if (!strcmp(name, "stl10")) return "data/stl10_binary";
  if (!strncmp(name, "folder:", 7)) return name + 7;
  return "";
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir/base, or dir/base.gz when only that exists. */
static void idx_path(char *out, size_t cap, const char *dir, const char *base) {
  snprintf(out, cap, "%s/%s", dir, base);
  if (exists(out)) return;
  char gz[PATH_MAX];
  snprintf(gz, sizeof gz, "%s/%s.gz", dir, base);
  if (exists(gz)) snprintf(out, cap, "%s", gz);
}

static int load_idx(const char *dir, const char *split, nc_dataset *out) {
  const char *prefix = !strcmp(split, "train") ? "train" : !strcmp(split, "test") ? "t10k" : NULL;
  if (!prefix) return nc_fail(NC_EUSAGE, "split '%s': expected train or test", split);
  char img[PATH_MAX], lab[PATH_MAX], base[64];
  snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
  idx_path(img, sizeof img, dir, base);
  snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
  idx_path(lab, sizeof lab, dir, base);
  return nc_idx_read(img, lab, 10, out);
}

static int load_cifar(const char *dir, const char *split, int cifar100, int coarse,
                      nc_dataset *out) {
  char paths[5][PATH_MAX];
  const char *ptrs[5];
  int n = 0, train = !strcmp(split, "train");
  if (!train && strcmp(split, "test"))
    return nc_fail(NC_EUSAGE, "split '%s': expected train or test", split);
  if (cifar100) {
    snprintf(paths[n++], PATH_MAX, "%s/%s.bin", dir, train ? "train" : "test");
  } else if (train) {
    for (int i = 1; i <= 5; i++) snprintf(paths[n++], PATH_MAX, "%s/data_batch_%d.bin", dir, i);
  } else {
    snprintf(paths[n++], PATH_MAX, "%s/test_batch.bin", dir);
  }
  for (int i = 0; i < n; i++) ptrs[i] = paths[i];
  return nc_cifar_read(ptrs, n, cifar100, coarse, out);
}

/* Concatenates b after a (same image shape) into a; frees b. */
static int concat(nc_dataset *a, nc_dataset *b) {
  nc_dataset both;
  int rc = nc_dataset_alloc(&both, a->n + b->n, a->c, a->h, a->w, a->classes);
  if (rc) return rc;
  size_t ia = (size_t)a->n * nc_dataset_image_bytes(a);
  memcpy(both.pixels, a->pixels, ia);
  memcpy(both.pixels + ia, b->pixels, (size_t)b->n * nc_dataset_image_bytes(b));
  memcpy(both.labels, a->labels, sizeof(int32_t) * a->n);
  memcpy(both.labels + a->n, b->labels, sizeof(int32_t) * b->n);
  nc_dataset_free(a);
  nc_dataset_free(b);
  *a = both;
  return NC_OK;
}

static int load_stl10(const char *dir, const char *split, nc_dataset *out) {
  char x[PATH_MAX], y[PATH_MAX];
  if (!strcmp(split, "train") || !strcmp(split, "test")) {
    snprintf(x, sizeof x, "%s/%s_X.bin", dir, split);
    snprintf(y, sizeof y, "%s/%s_y.bin", dir, split);
    return nc_stl10_read(x, y, out);
  }
  snprintf(x, sizeof x, "%s/unlabeled_X.bin", dir);
  if (!strcmp(split, "unlabeled")) return nc_stl10_read(x, NULL, out);
  if (strcmp(split, "train+unlabeled"))
    return nc_fail(NC_EUSAGE, "split '%s': expected train, test, unlabeled or train+unlabeled",
                   split);
  nc_dataset unl;
  int rc = nc_stl10_read(x, NULL, &unl);
  if (rc) return rc;
  snprintf(x, sizeof x, "%s/train_X.bin", dir);
  snprintf(y, sizeof y, "%s/train_y.bin", dir);
  if ((rc = nc_stl10_read(x, y, out))) {
    nc_dataset_free(&unl);
    return rc;
  }
  if ((rc = concat(out, &unl))) {
    nc_dataset_free(&unl);
    nc_dataset_free(out);
  }
  return rc;
}

static int load_folder(const char *root, const char *split, const nc_data_opts *o,
                       nc_dataset *out) {
  char train[PATH_MAX], path[PATH_MAX];
  snprintf(train, sizeof train, "%s/train", root);
  int size = o->image_size, ch = o->channels;
  if (ch < 0 || ch == 2 || ch > 3) return nc_fail(NC_EUSAGE, "folder: channels must be 1 or 3");
  if (size <= 0 || ch == 0) { /* from the first training image, so that every split agrees */
    int psize = 0, pch = 0, rc = nc_folder_probe(is_dir(train) ? train : root, &psize, &pch);
    if (rc) return rc;
    if (size <= 0) size = psize;
    if (ch == 0) ch = pch;
  }
  if (!is_dir(train)) { /* a single tree: the whole of it is the training split */
    if (strcmp(split, "train"))
      return nc_fail(NC_EIO, "%s: no split '%s' (no train/ and val/ sub-folders)", root, split);
    return nc_folder_read(root, size, ch, out);
  }
  if (!strcmp(split, "train")) return nc_folder_read(train, size, ch, out);
  if (strcmp(split, "test") && strcmp(split, "val"))
    return nc_fail(NC_EUSAGE, "split '%s': expected train, val or test", split);
  snprintf(path, sizeof path, "%s/val", root);
  if (!is_dir(path)) snprintf(path, sizeof path, "%s/test", root);
  if (!is_dir(path)) return nc_fail(NC_EIO, "%s: missing split: no val/ or test/ folder", root);
  return nc_folder_read(path, size, ch, out);
}

int nc_dataset_load(const char *name, const char *split, const nc_data_opts *opts,
                    nc_dataset *out) {
  static const nc_data_opts defaults = {0};
  const nc_data_opts *o = opts ? opts : &defaults;
  memset(out, 0, sizeof *out);
  if (!name || !*name) return nc_fail(NC_EUSAGE, "missing dataset name");
  if (!split || !*split) split = "train";
  int is_folder = !strncmp(name, "folder:", 7);
  if (!is_folder && !*nc_dataset_default_dir(name))
    return nc_fail(NC_EUSAGE,
                   "unknown dataset '%s' (expected fashion-mnist, mnist, cifar10, cifar100, "
                   "stl10 or folder:PATH)",
                   name);
  const char *dir = is_folder             ? name + 7
                    : (o->dir && *o->dir) ? o->dir
                                          : nc_dataset_default_dir(name);
  if (is_folder && !*dir) return nc_fail(NC_EUSAGE, "folder: missing PATH (folder:PATH)");
  int rc;
  if (!strcmp(name, "fashion-mnist") || !strcmp(name, "mnist"))
    rc = load_idx(dir, split, out);
  else if (!strcmp(name, "cifar10"))
    rc = load_cifar(dir, split, 0, 0, out);
  else if (!strcmp(name, "cifar100"))
    rc = load_cifar(dir, split, 1, o->cifar100_coarse, out);
  else if (!strcmp(name, "stl10"))
    rc = load_stl10(dir, split, out);
  else
    rc = load_folder(dir, split, o, out);
  if (rc) {
    /* Prefix the message with the dataset so the user sees what was being loaded. */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nc_last_error());
    return nc_fail(rc, "%s: %s", name, msg);
  }
  snprintf(out->name, sizeof out->name, "%s/%s", is_folder ? "folder" : name, split);
  return NC_OK;
}
