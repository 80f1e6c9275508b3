/* safetensors writer: header JSON in insertion order, data in the same order, atomic write. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ncssl/afile.h"
#include "ncssl/checkpoint.h"
#include "ncssl/json.h"
#include "ncssl/status.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this writer copies host memory as is"
#endif

typedef struct {
  char *name;
  nc_st_dtype dtype;
  int ndim;
  int64_t shape[NC_ST_MAX_DIMS];
  size_t nbytes;
  const void *data;
  size_t offset; /* where the data goes, set by layout() */
} st_item;

struct nc_st_writer {
  st_item *items;
  int n, cap;
  char **meta_keys, **meta_values;
  int nmeta, meta_cap;
};

static const char *const dtype_names[] = {"F32", "F64", "I64", "I32", "U8"};
static const size_t dtype_sizes[] = {4, 8, 8, 4, 1};

const char *nc_st_dtype_name(nc_st_dtype dt) { return (unsigned)dt < 5 ? dtype_names[dt] : "?"; }

size_t nc_st_dtype_size(nc_st_dtype dt) { return (unsigned)dt < 5 ? dtype_sizes[dt] : 0; }

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int nc_st_writer_create(nc_st_writer **out) {
  *out = calloc(1, sizeof **out);
  return *out ? NC_OK : nc_fail(NC_ENOMEM, "out of memory");
}

void nc_st_writer_free(nc_st_writer *w) {
  if (!w) return;
  for (int i = 0; i < w->n; i++) free(w->items[i].name);
  for (int i = 0; i < w->nmeta; i++) {
    free(w->meta_keys[i]);
    free(w->meta_values[i]);
  }
  free(w->items);
  free(w->meta_keys);
  free(w->meta_values);
  free(w);
}

static int has_name(const nc_st_writer *w, const char *name) {
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->items[i].name, name) == 0) return 1;
  return 0;
}

int nc_st_add(nc_st_writer *w, const char *name, nc_st_dtype dt, int ndim, const int64_t *shape,
              const void *data) {
  if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
    return nc_fail(NC_EINVAL, "safetensors: invalid tensor name '%s'", name ? name : "(null)");
  if ((unsigned)dt >= 5) return nc_fail(NC_EINVAL, "safetensors: tensor '%s': bad dtype", name);
  if (ndim < 0 || ndim > NC_ST_MAX_DIMS)
    return nc_fail(NC_EINVAL, "safetensors: tensor '%s': %d dimensions (at most %d)", name, ndim,
                   NC_ST_MAX_DIMS);
  if (has_name(w, name)) return nc_fail(NC_EINVAL, "safetensors: duplicate tensor '%s'", name);
  size_t bytes = dtype_sizes[dt];
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0 || __builtin_mul_overflow(bytes, (size_t)shape[k], &bytes))
      return nc_fail(NC_EINVAL, "safetensors: tensor '%s': bad dimension %lld", name,
                     (long long)shape[k]);
  }
  if (bytes > 0 && !data) return nc_fail(NC_EINVAL, "safetensors: tensor '%s': no data", name);
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 64;
    st_item *items = realloc(w->items, (size_t)cap * sizeof *items);
    if (!items) return nc_fail(NC_ENOMEM, "out of memory");
    w->items = items;
    w->cap = cap;
  }
  st_item *it = &w->items[w->n];
  memset(it, 0, sizeof *it);
  if (!(it->name = dup_str(name))) return nc_fail(NC_ENOMEM, "out of memory");
  it->dtype = dt;
  it->ndim = ndim;
  for (int k = 0; k < ndim; k++) it->shape[k] = shape[k];
  it->nbytes = bytes;
  it->data = data;
  w->n++;
  return NC_OK;
}

int nc_st_add_params(nc_st_writer *w, const nc_param_list *params, const char *prefix,
                     int with_buffers) {
  if (!prefix) prefix = "";
  for (int i = 0; i < params->n; i++) {
    const nc_param *p = &params->items[i];
    if (p->is_buffer && !with_buffers) continue;
    char name[256];
    if (snprintf(name, sizeof name, "%s%s", prefix, p->name) >= (int)sizeof name)
      return nc_fail(NC_EINVAL, "safetensors: name too long: %s%s", prefix, p->name);
    int64_t shape[NC_ST_MAX_DIMS];
    size_t count = 1;
    for (int k = 0; k < p->ndim; k++) {
      shape[k] = p->shape[k];
      count *= (size_t)p->shape[k];
    }
    if (count != p->n)
      return nc_fail(NC_EINVAL, "safetensors: parameter '%s': shape holds %zu values, not %zu",
                     name, count, p->n);
    int rc = nc_st_add(w, name, NC_ST_F32, p->ndim, shape, p->w);
    if (rc) return rc;
  }
  return NC_OK;
}

int nc_st_add_i64(nc_st_writer *w, const char *name, int n, const int64_t *values) {
  int64_t shape[1] = {n};
  return nc_st_add(w, name, NC_ST_I64, 1, shape, values);
}

unsigned long nc_st_crc32(const void *data, size_t n) {
  const unsigned char *p = data;
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) { /* zlib takes the length as uInt */
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = crc32(crc, p, chunk);
    p += chunk, n -= chunk;
  }
  return (unsigned long)crc;
}

int nc_st_add_checksums(nc_st_writer *w) {
  for (int i = 0; i < w->n; i++) {
    char key[300], value[16];
    if (snprintf(key, sizeof key, "crc32:%s", w->items[i].name) >= (int)sizeof key)
      return nc_fail(NC_EINVAL, "safetensors: name too long: %s", w->items[i].name);
    snprintf(value, sizeof value, "%08lx", nc_st_crc32(w->items[i].data, w->items[i].nbytes));
    int rc = nc_st_set_meta(w, key, value);
    if (rc) return rc;
  }
  return NC_OK;
}

int nc_st_set_meta(nc_st_writer *w, const char *key, const char *value) {
  for (int i = 0; i < w->nmeta; i++) {
    if (strcmp(w->meta_keys[i], key) == 0) {
      char *v = dup_str(value);
      if (!v) return nc_fail(NC_ENOMEM, "out of memory");
      free(w->meta_values[i]);
      w->meta_values[i] = v;
      return NC_OK;
    }
  }
  if (w->nmeta == w->meta_cap) {
    int cap = w->meta_cap ? 2 * w->meta_cap : 8;
    char **k = realloc(w->meta_keys, (size_t)cap * sizeof *k);
    if (k) w->meta_keys = k;
    char **v = realloc(w->meta_values, (size_t)cap * sizeof *v);
    if (v) w->meta_values = v;
    if (!k || !v) return nc_fail(NC_ENOMEM, "out of memory");
    w->meta_cap = cap;
  }
  char *k = dup_str(key), *v = dup_str(value);
  if (!k || !v) {
    free(k);
    free(v);
    return nc_fail(NC_ENOMEM, "out of memory");
  }
  w->meta_keys[w->nmeta] = k;
  w->meta_values[w->nmeta] = v;
  w->nmeta++;
  return NC_OK;
}

/* Data order: widest elements first (8, 4, then 1 byte), insertion order within a width, so every
 * tensor starts at a multiple of its element size (the data block itself starts 8-aligned). */
static void layout(const nc_st_writer *w) {
  size_t offset = 0;
  for (size_t width = 8; width >= 1; width /= 2)
    for (int i = 0; i < w->n; i++)
      if (dtype_sizes[w->items[i].dtype] == width) {
        w->items[i].offset = offset;
        offset += w->items[i].nbytes;
      }
}

char *nc_st_header_json(const nc_st_writer *w, size_t *len) {
  layout(w);
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (!f) return NULL;
  /* Compact, like the reference serializer; __metadata__ first. */
  fputc('{', f);
  int first = 1;
  if (w->nmeta > 0) {
    fputs("\"__metadata__\":{", f);
    for (int i = 0; i < w->nmeta; i++) {
      if (i) fputc(',', f);
      nc_json_str(f, w->meta_keys[i]);
      fputc(':', f);
      nc_json_str(f, w->meta_values[i]);
    }
    fputc('}', f);
    first = 0;
  }
  for (int i = 0; i < w->n; i++) {
    const st_item *it = &w->items[i];
    if (!first) fputc(',', f);
    first = 0;
    nc_json_str(f, it->name);
    fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[it->dtype]);
    for (int k = 0; k < it->ndim; k++) fprintf(f, "%s%lld", k ? "," : "", (long long)it->shape[k]);
    fprintf(f, "],\"data_offsets\":[%zu,%zu]}", it->offset, it->offset + it->nbytes);
  }
  fputc('}', f);
  /* Pad with spaces so the data starts 8-byte aligned (8 + header length ≡ 0 mod 8). */
  long used = ftell(f);
  while (used >= 0 && used % 8 != 0) {
    fputc(' ', f);
    used++;
  }
  if (fclose(f) != 0 || used < 0) {
    free(buf);
    return NULL;
  }
  *len = size;
  return buf;
}

int nc_st_write(const nc_st_writer *w, const char *path) {
  size_t hlen;
  char *header = nc_st_header_json(w, &hlen);
  if (!header) return nc_fail(NC_ENOMEM, "out of memory writing %s", path);
  unsigned char prefix[8];
  for (int b = 0; b < 8; b++) prefix[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
  nc_afile a;
  int rc = nc_afile_open(&a, path);
  if (rc == NC_OK) rc = nc_afile_write(&a, prefix, 8);
  if (rc == NC_OK) rc = nc_afile_write(&a, header, hlen);
  for (size_t width = 8; width >= 1; width /= 2) /* the order layout() chose */
    for (int i = 0; rc == NC_OK && i < w->n; i++)
      if (dtype_sizes[w->items[i].dtype] == width)
        rc = nc_afile_write(&a, w->items[i].data, w->items[i].nbytes);
  if (rc == NC_OK) rc = nc_afile_commit(&a);
  free(header);
  return rc;
}

int nc_st_add_rng(nc_st_writer *w, const char *name, const nc_rng *r) {
  int64_t shape[1] = {4};
  return nc_st_add(w, name, NC_ST_I64, 1, shape, r->s); /* uint64 words stored as their bits */
}

int nc_st_save_params(const char *path, const nc_param_list *params, const char *prefix) {
  nc_st_writer *w;
  int rc = nc_st_writer_create(&w);
  if (rc == NC_OK) rc = nc_st_add_params(w, params, prefix, 1);
  if (rc == NC_OK) rc = nc_st_write(w, path);
  nc_st_writer_free(w);
  return rc;
}
