/* safetensors reader: the header is parsed with jansson (duplicate keys rejected), then every
 * entry is checked against the data block before anything is handed out. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncssl/afile.h"
#include "ncssl/checkpoint.h"
#include "ncssl/status.h"

/* A header larger than this is refused before parsing (the reference reader's limit). */
#define ST_MAX_HEADER (100u << 20)

struct nc_st_file {
  char *label;
  unsigned char *bytes; /* the whole file */
  size_t len;
  nc_st_entry *entries; /* sorted by data offset */
  int n;
  const nc_st_entry **by_name; /* entries sorted by name, for nc_st_find */
  uint64_t *begins;            /* each entry's offset into the data block */
  char **meta_keys, **meta_values;
  int nmeta;
};

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void nc_st_close(nc_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) free((char *)f->entries[i].name);
  for (int i = 0; i < f->nmeta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->entries);
  free(f->by_name);
  free(f->begins);
  free(f->meta_keys);
  free(f->meta_values);
  free(f->bytes);
  free(f->label);
  free(f);
}

static int parse_dtype(const char *s, nc_st_dtype *dt) {
  for (int d = 0; d <= NC_ST_U8; d++) {
    if (strcmp(s, nc_st_dtype_name((nc_st_dtype)d)) == 0) {
      *dt = (nc_st_dtype)d;
      return 1;
    }
  }
  return 0;
}

typedef struct {
  uint64_t begin, end;
} span;

/* Fills entry e from one header value; spans[] gets its offsets. */
static int parse_entry(const nc_st_file *f, const char *name, json_t *v, nc_st_entry *e, span *sp) {
  const char *L = f->label;
  if (!json_is_object(v))
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': entry is not a JSON object", L, name);
  json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
         *offs = json_object_get(v, "data_offsets");
  if (!dtype || !shape || !offs)
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': missing \"%s\"", L, name,
                   !dtype   ? "dtype"
                   : !shape ? "shape"
                            : "data_offsets");
  if (!json_is_string(dtype))
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': dtype is not a string", L, name);
  if (!parse_dtype(json_string_value(dtype), &e->dtype))
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': unsupported dtype '%s'", L, name,
                   json_string_value(dtype));
  if (!json_is_array(shape))
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': shape is not an array", L, name);
  size_t nd = json_array_size(shape);
  if (nd > NC_ST_MAX_DIMS)
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': %zu dimensions (at most %d)", L, name, nd,
                   NC_ST_MAX_DIMS);
  e->ndim = (int)nd;
  size_t count = 1;
  int overflow = 0;
  for (size_t k = 0; k < nd; k++) {
    json_t *d = json_array_get(shape, k);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      return nc_fail(NC_EFORMAT, "%s: tensor '%s': shape entry %zu is not a non-negative integer",
                     L, name, k);
    e->shape[k] = json_integer_value(d);
    overflow |= __builtin_mul_overflow(count, (size_t)e->shape[k], &count);
  }
  size_t nbytes = 0;
  overflow |= __builtin_mul_overflow(count, nc_st_dtype_size(e->dtype), &nbytes);
  if (!json_is_array(offs) || json_array_size(offs) != 2 ||
      !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': data_offsets is not [begin, end] of integers", L,
                   name);
  json_int_t b = json_integer_value(json_array_get(offs, 0)),
             en = json_integer_value(json_array_get(offs, 1));
  if (b < 0 || en < b)
    return nc_fail(NC_EFORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] are not ordered", L,
                   name, (long long)b, (long long)en);
  if (overflow || (uint64_t)(en - b) != nbytes)
    return nc_fail(NC_EFORMAT,
                   "%s: tensor '%s': %s shape needs %zu bytes but data_offsets [%lld, %lld] hold "
                   "%lld",
                   L, name, nc_st_dtype_name(e->dtype), overflow ? SIZE_MAX : nbytes, (long long)b,
                   (long long)en, (long long)(en - b));
  sp->begin = (uint64_t)b;
  sp->end = (uint64_t)en;
  e->count = count;
  e->nbytes = nbytes;
  if (!(e->name = dup_str(name))) return nc_fail(NC_ENOMEM, "out of memory");
  return NC_OK;
}

static int parse_metadata(nc_st_file *f, json_t *meta) {
  if (!json_is_object(meta))
    return nc_fail(NC_EFORMAT, "%s: __metadata__ is not a JSON object", f->label);
  size_t n = json_object_size(meta);
  f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
  f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
  if (!f->meta_keys || !f->meta_values) return nc_fail(NC_ENOMEM, "out of memory");
  const char *key;
  json_t *v;
  json_object_foreach(meta, key, v) {
    if (!json_is_string(v))
      return nc_fail(NC_EFORMAT, "%s: __metadata__ value of '%s' is not a string", f->label, key);
    f->meta_keys[f->nmeta] = dup_str(key);
    f->meta_values[f->nmeta] = dup_str(json_string_value(v));
    f->nmeta++; /* counted before the check so nc_st_close frees a half pair */
    if (!f->meta_keys[f->nmeta - 1] || !f->meta_values[f->nmeta - 1])
      return nc_fail(NC_ENOMEM, "out of memory");
  }
  return NC_OK;
}

/* Sorting helpers: qsort has no context argument, so the arrays being sorted carry what they need.
 */
typedef struct {
  span s;
  nc_st_entry e;
} spanned;

static int by_offset(const void *a, const void *b) {
  const spanned *x = a, *y = b;
  if (x->s.begin != y->s.begin) return x->s.begin < y->s.begin ? -1 : 1;
  if (x->s.end != y->s.end) return x->s.end < y->s.end ? -1 : 1;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(const nc_st_entry *const *)a)->name, (*(const nc_st_entry *const *)b)->name);
}

/* The header's tensors must tile [0, data_len) exactly, in offset order. */
static int check_coverage(const nc_st_file *f, const spanned *t, int n, uint64_t data_len) {
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    if (t[i].s.end > data_len)
      return nc_fail(NC_EFORMAT,
                     "%s: tensor '%s': data_offsets [%llu, %llu] reach past the data (%llu bytes)",
                     f->label, t[i].e.name, (unsigned long long)t[i].s.begin,
                     (unsigned long long)t[i].s.end, (unsigned long long)data_len);
    if (t[i].s.begin < at)
      return nc_fail(NC_EFORMAT, "%s: tensors '%s' and '%s' overlap", f->label, t[i - 1].e.name,
                     t[i].e.name);
    if (t[i].s.begin > at)
      return nc_fail(NC_EFORMAT, "%s: %llu bytes before tensor '%s' belong to no tensor", f->label,
                     (unsigned long long)(t[i].s.begin - at), t[i].e.name);
    at = t[i].s.end;
  }
  if (at != data_len)
    return nc_fail(NC_EFORMAT, "%s: %llu bytes after the last tensor belong to no tensor", f->label,
                   (unsigned long long)(data_len - at));
  return NC_OK;
}

/* The 8-byte length prefix, checked against the file's size before anything else is read. */
static int header_length(const char *L, const unsigned char *prefix, uint64_t file_len,
                         uint64_t *hlen) {
  if (file_len < 8)
    return nc_fail(NC_EFORMAT, "%s: %llu bytes, too short for a safetensors file", L,
                   (unsigned long long)file_len);
  *hlen = 0;
  for (int b = 7; b >= 0; b--) *hlen = *hlen << 8 | prefix[b];
  if (*hlen > file_len - 8)
    return nc_fail(NC_EFORMAT, "%s: header length %llu exceeds the file's %llu bytes after it", L,
                   (unsigned long long)*hlen, (unsigned long long)(file_len - 8));
  if (*hlen > ST_MAX_HEADER)
    return nc_fail(NC_EFORMAT, "%s: header length %llu is over the %u-byte limit", L,
                   (unsigned long long)*hlen, ST_MAX_HEADER);
  return NC_OK;
}

/* Parses and validates the header (hlen bytes at hdr) for a data block of data_len bytes; the
 * entries get their data pointers from attach_data once the data is read. */
static int parse(nc_st_file *f, const unsigned char *hdr, uint64_t hlen, uint64_t data_len) {
  const char *L = f->label;
  json_error_t err;
  json_t *root = json_loadb((const char *)hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
  if (!root)
    return nc_fail(NC_EFORMAT, "%s: header is not valid JSON: %s (header byte %d)", L, err.text,
                   err.position);
  int rc = NC_OK;
  spanned *t = NULL;
  if (!json_is_object(root)) {
    rc = nc_fail(NC_EFORMAT, "%s: header is not a JSON object", L);
    goto done;
  }
  size_t total = json_object_size(root);
  t = calloc(total ? total : 1, sizeof *t);
  if (!t) {
    rc = nc_fail(NC_ENOMEM, "out of memory");
    goto done;
  }
  int n = 0;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "__metadata__") == 0)
      rc = parse_metadata(f, v);
    else if ((rc = parse_entry(f, key, v, &t[n].e, &t[n].s)) == NC_OK)
      n++;
    if (rc) break;
  }
  if (rc == NC_OK) {
    qsort(t, (size_t)n, sizeof *t, by_offset);
    rc = check_coverage(f, t, n, data_len);
  }
  if (rc == NC_OK) {
    f->entries = calloc(n ? (size_t)n : 1, sizeof *f->entries);
    f->by_name = calloc(n ? (size_t)n : 1, sizeof *f->by_name);
    f->begins = calloc(n ? (size_t)n : 1, sizeof *f->begins);
    if (!f->entries || !f->by_name || !f->begins) rc = nc_fail(NC_ENOMEM, "out of memory");
  }
  if (rc == NC_OK) {
    for (int i = 0; i < n; i++) {
      f->entries[i] = t[i].e;
      f->begins[i] = t[i].s.begin;
      f->by_name[i] = &f->entries[i];
    }
    f->n = n;
    qsort(f->by_name, (size_t)n, sizeof *f->by_name, by_name);
    n = 0; /* ownership of the names moved to f */
  }
  for (int i = 0; i < n; i++) free((char *)t[i].e.name);
done:
  free(t);
  json_decref(root);
  return rc;
}

/* Points every entry into the data block and verifies the checksums the writer stored
 * ("crc32:NAME" metadata, nc_st_add_checksums), so a flipped bit is refused naming the tensor. */
static int attach_data(nc_st_file *f, const unsigned char *data) {
  for (int i = 0; i < f->n; i++) f->entries[i].data = data + f->begins[i];
  for (int i = 0; i < f->nmeta; i++) {
    if (strncmp(f->meta_keys[i], "crc32:", 6) != 0) continue;
    const char *name = f->meta_keys[i] + 6;
    const nc_st_entry *e = nc_st_find(f, name);
    if (!e)
      return nc_fail(NC_EFORMAT, "%s: checksum for tensor '%s', which is missing", f->label, name);
    char want[16];
    snprintf(want, sizeof want, "%08lx", nc_st_crc32(e->data, e->nbytes));
    if (strcmp(want, f->meta_values[i]) != 0)
      return nc_fail(NC_EFORMAT, "%s: tensor '%s' is damaged (checksum %s, the file says %.16s)",
                     f->label, name, want, f->meta_values[i]);
  }
  return NC_OK;
}

int nc_st_open_memory(nc_st_file **out, const void *bytes, size_t len, const char *label) {
  *out = NULL;
  nc_st_file *f = calloc(1, sizeof *f);
  if (!f) return nc_fail(NC_ENOMEM, "out of memory");
  f->label = dup_str(label);
  f->bytes = malloc(len ? len : 1);
  if (!f->label || !f->bytes) {
    nc_st_close(f);
    return nc_fail(NC_ENOMEM, "out of memory reading %s", label);
  }
  if (len) memcpy(f->bytes, bytes, len);
  f->len = len;
  uint64_t hlen = 0;
  int rc = header_length(label, f->bytes, len, &hlen);
  if (!rc) rc = parse(f, f->bytes + 8, hlen, len - 8 - hlen);
  if (!rc) rc = attach_data(f, f->bytes + 8 + hlen);
  if (rc) {
    nc_st_close(f);
    return rc;
  }
  *out = f;
  return NC_OK;
}

static int read_exact(FILE *fp, const char *path, void *dst, size_t n) {
  if (n && fread(dst, 1, n, fp) != n)
    return nc_fail(NC_EIO, "cannot read %s: %s", path,
                   ferror(fp) ? strerror(errno) : "the file is shorter than its size");
  return NC_OK;
}

/* The file is read in the order its header allows: the length prefix (checked against the file
 * size), the header (parsed and validated), and only then the data block, so a damaged or hostile
 * file is refused before anything of its claimed size is allocated. */
static int open_file(nc_st_file **out, const char *path, int nofollow) {
  *out = NULL;
  FILE *fp = NULL;
  int rc = nc_fopen_input(path, nofollow, &fp); /* regular files only: no FIFO, no /dev/zero */
  if (rc) return rc;
  struct stat st;
  nc_st_file *f = calloc(1, sizeof *f);
  unsigned char prefix[8];
  uint64_t hlen = 0, size = 0;
  if (!f || !(f->label = dup_str(path)))
    rc = nc_fail(NC_ENOMEM, "out of memory reading %s", path);
  else if (fstat(fileno(fp), &st) != 0)
    rc = nc_fail(NC_EIO, "cannot read %s: %s", path, strerror(errno));
  if (!rc) {
    size = (uint64_t)st.st_size;
    rc = read_exact(fp, path, prefix, size < 8 ? (size_t)size : 8);
  }
  if (!rc) rc = header_length(path, prefix, size, &hlen);
  unsigned char *hdr = NULL;
  if (!rc && !(hdr = malloc(hlen ? (size_t)hlen : 1)))
    rc = nc_fail(NC_ENOMEM, "out of memory reading %s", path);
  if (!rc) rc = read_exact(fp, path, hdr, (size_t)hlen);
  if (!rc) rc = parse(f, hdr, hlen, size - 8 - hlen);
  free(hdr);
  if (!rc) {
    f->len = (size_t)(size - 8 - hlen); /* the data block only */
    if (!(f->bytes = malloc(f->len ? f->len : 1)))
      rc = nc_fail(NC_ENOMEM, "out of memory reading %s (%zu bytes of tensors)", path, f->len);
  }
  if (!rc) rc = read_exact(fp, path, f->bytes, f->len);
  if (!rc) rc = attach_data(f, f->bytes);
  fclose(fp);
  if (rc) {
    nc_st_close(f);
    return rc;
  }
  *out = f;
  return NC_OK;
}

int nc_st_open(nc_st_file **out, const char *path) { return open_file(out, path, 0); }

int nc_st_open_nofollow(nc_st_file **out, const char *path) { return open_file(out, path, 1); }

int nc_st_count(const nc_st_file *f) { return f->n; }

const nc_st_entry *nc_st_at(const nc_st_file *f, int i) {
  return i >= 0 && i < f->n ? &f->entries[i] : NULL;
}

const nc_st_entry *nc_st_find(const nc_st_file *f, const char *name) {
  int lo = 0, hi = f->n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const nc_st_entry *e = f->by_name[mid];
    int c = strcmp(name, e->name);
    if (c == 0) return e;
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

const char *nc_st_meta(const nc_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}

int nc_st_meta_count(const nc_st_file *f) { return f->nmeta; }

void nc_st_meta_at(const nc_st_file *f, int i, const char **key, const char **value) {
  *key = f->meta_keys[i];
  *value = f->meta_values[i];
}

int nc_st_read(const nc_st_file *f, const char *name, nc_st_dtype dt, void *dst, size_t n) {
  const nc_st_entry *e = nc_st_find(f, name);
  if (!e) return nc_fail(NC_EFORMAT, "%s: tensor '%s' is missing", f->label, name);
  if (e->dtype != dt)
    return nc_fail(NC_EFORMAT, "%s: tensor '%s' is %s, expected %s", f->label, name,
                   nc_st_dtype_name(e->dtype), nc_st_dtype_name(dt));
  if (e->count != n)
    return nc_fail(NC_EFORMAT, "%s: tensor '%s' has %zu elements, expected %zu", f->label, name,
                   e->count, n);
  if (e->nbytes) memcpy(dst, e->data, e->nbytes);
  return NC_OK;
}

static void shape_text(char *buf, size_t size, int ndim, const int64_t *shape) {
  size_t at = (size_t)snprintf(buf, size, "[");
  for (int k = 0; k < ndim && at < size; k++)
    at += (size_t)snprintf(buf + at, size - at, "%s%lld", k ? ", " : "", (long long)shape[k]);
  if (at < size) snprintf(buf + at, size - at, "]");
}

int nc_st_load_params(const nc_st_file *f, nc_param_list *params, const char *prefix,
                      int with_buffers) {
  if (!prefix) prefix = "";
  char name[256];
  /* Check everything first so that a refusal leaves the parameters untouched. */
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < params->n; i++) {
      nc_param *p = &params->items[i];
      if (p->is_buffer && !with_buffers) continue;
      snprintf(name, sizeof name, "%s%s", prefix, p->name);
      const nc_st_entry *e = nc_st_find(f, name);
      if (pass == 1) {
        memcpy(p->w, e->data, e->nbytes);
        continue;
      }
      if (!e) return nc_fail(NC_EFORMAT, "%s: tensor '%s' is missing", f->label, name);
      if (e->dtype != NC_ST_F32)
        return nc_fail(NC_EFORMAT, "%s: tensor '%s' is %s, expected F32", f->label, name,
                       nc_st_dtype_name(e->dtype));
      int same = e->ndim == p->ndim && e->count == p->n;
      for (int k = 0; same && k < p->ndim; k++) same = e->shape[k] == p->shape[k];
      if (!same) {
        int64_t want[NC_ST_MAX_DIMS];
        for (int k = 0; k < p->ndim; k++) want[k] = p->shape[k];
        char got_s[128], want_s[128];
        shape_text(got_s, sizeof got_s, e->ndim, e->shape);
        shape_text(want_s, sizeof want_s, p->ndim, want);
        return nc_fail(NC_EFORMAT, "%s: tensor '%s' has shape %s, expected %s", f->label, name,
                       got_s, want_s);
      }
    }
  }
  return NC_OK;
}

int nc_st_read_rng(const nc_st_file *f, const char *name, nc_rng *r) {
  return nc_st_read(f, name, NC_ST_I64, r->s, 4);
}

int nc_st_load_params_file(const char *path, nc_param_list *params, const char *prefix) {
  nc_st_file *f;
  int rc = nc_st_open(&f, path);
  if (rc == NC_OK) rc = nc_st_load_params(f, params, prefix, 1);
  nc_st_close(f);
  return rc;
}

int nc_st_check_no_extra(const nc_st_file *f, const nc_param_list *params, const char *prefix) {
  if (!prefix) prefix = "";
  size_t pl = strlen(prefix);
  for (int i = 0; i < f->n; i++) {
    const char *name = f->entries[i].name;
    if (strncmp(name, prefix, pl) == 0 && !nc_params_find(params, name + pl))
      return nc_fail(NC_EFORMAT, "%s: tensor '%s' is not a parameter of this network", f->label,
                     name);
  }
  return NC_OK;
}
