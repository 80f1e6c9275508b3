/* config.txt: "key = value" lines, written atomically (runlog.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/afile.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int key_ok(const char *k) {
  if (!k[0]) return 0;
  for (; *k; k++)
    if (isspace((unsigned char)*k) || *k == '=' || *k == '#') return 0;
  return 1;
}

int nc_config_set(nc_config *c, const char *key, const char *value) {
  if (!key_ok(key)) return nc_fail(NC_EINVAL, "config: invalid key '%s'", key);
  if (strpbrk(value, "\n\r"))
    return nc_fail(NC_EINVAL, "config: the value of '%s' spans several lines", key);
  char *v = dup_n(value, strlen(value));
  if (!v) return nc_fail(NC_ENOMEM, "out of memory");
  for (int i = 0; i < c->n; i++) {
    if (strcmp(c->items[i].key, key) == 0) {
      free(c->items[i].value);
      c->items[i].value = v;
      return NC_OK;
    }
  }
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 32;
    nc_config_entry *items = realloc(c->items, (size_t)cap * sizeof *items);
    if (!items) {
      free(v);
      return nc_fail(NC_ENOMEM, "out of memory");
    }
    c->items = items;
    c->cap = cap;
  }
  char *k = dup_n(key, strlen(key));
  if (!k) {
    free(v);
    return nc_fail(NC_ENOMEM, "out of memory");
  }
  c->items[c->n++] = (nc_config_entry){k, v};
  return NC_OK;
}

int nc_config_setf(nc_config *c, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *v = NULL;
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0 || !(v = malloc((size_t)len + 1))) return nc_fail(NC_ENOMEM, "out of memory");
  va_start(ap, fmt);
  vsnprintf(v, (size_t)len + 1, fmt, ap);
  va_end(ap);
  int rc = nc_config_set(c, key, v);
  free(v);
  return rc;
}

const char *nc_config_get(const nc_config *c, const char *key) {
  for (int i = 0; i < c->n; i++)
    if (strcmp(c->items[i].key, key) == 0) return c->items[i].value;
  return NULL;
}

void nc_config_free(nc_config *c) {
  for (int i = 0; i < c->n; i++) {
    free(c->items[i].key);
    free(c->items[i].value);
  }
  free(c->items);
  memset(c, 0, sizeof *c);
}

char *nc_config_text(const nc_config *c) {
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (!f) return NULL;
  for (int i = 0; i < c->n; i++) fprintf(f, "%s = %s\n", c->items[i].key, c->items[i].value);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

int nc_config_write(const nc_config *c, const char *path) {
  char *text = nc_config_text(c);
  if (!text) return nc_fail(NC_ENOMEM, "out of memory writing %s", path);
  int rc = nc_write_atomic(path, text, strlen(text));
  free(text);
  return rc;
}

/* [s, e) without surrounding white space. */
static void trim(const char **s, const char **e) {
  while (*s < *e && isspace((unsigned char)**s)) (*s)++;
  while (*e > *s && isspace((unsigned char)(*e)[-1])) (*e)--;
}

/* One "key = value" line of a file being read. */
typedef struct {
  char *key, *value;
  long line;
} read_entry;

static int by_key_then_line(const void *a, const void *b) {
  const read_entry *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_line(const void *a, const void *b) {
  const read_entry *x = a, *y = b;
  return (x->line > y->line) - (x->line < y->line);
}

int nc_config_read(nc_config *c, const char *path) {
  FILE *f = NULL;
  int rc = nc_fopen_input(path, 0, &f); /* a FIFO or device is refused, never waited on */
  if (rc) return rc;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  read_entry *items = NULL;
  size_t n = 0, icap = 0;
  for (long lineno = 1; rc == NC_OK && (len = getline(&line, &cap, f)) >= 0; lineno++) {
    /* "batch = 3\0 2" must not read as 3: a NUL byte is an error, not the end of the line. */
    if (memchr(line, '\0', (size_t)len)) {
      rc = nc_fail(NC_EFORMAT, "%s:%ld: a NUL byte in the line", path, lineno);
      break;
    }
    const char *s = line, *e = line + len;
    trim(&s, &e);
    if (s == e || *s == '#') continue;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) {
      rc = nc_fail(NC_EFORMAT, "%s:%ld: expected \"key = value\"", path, lineno);
      break;
    }
    const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
    trim(&ks, &ke);
    trim(&vs, &ve);
    if (n == icap) {
      size_t ncap = icap ? 2 * icap : 64;
      read_entry *grown = realloc(items, ncap * sizeof *items);
      if (!grown) {
        rc = nc_fail(NC_ENOMEM, "out of memory");
        break;
      }
      items = grown, icap = ncap;
    }
    char *key = dup_n(ks, (size_t)(ke - ks)), *value = dup_n(vs, (size_t)(ve - vs));
    items[n++] = (read_entry){key, value, lineno};
    if (!key || !value)
      rc = nc_fail(NC_ENOMEM, "out of memory");
    else if (!key_ok(key))
      rc = nc_fail(NC_EFORMAT, "%s:%ld: invalid key '%s'", path, lineno, key);
  }
  if (rc == NC_OK && ferror(f)) rc = nc_fail(NC_EIO, "cannot read %s: %s", path, strerror(errno));
  free(line);
  fclose(f);
  /* A key given twice: sorted by (key, line), duplicates are neighbours; O(n log n) where a
   * lookup per line was quadratic (50,000 keys took 20 s). The earliest second occurrence is
   * named, as a reader going down the file would find it. */
  if (rc == NC_OK && n > 1) {
    qsort(items, n, sizeof *items, by_key_then_line);
    long dup_line = 0;
    const char *dup_key = NULL;
    for (size_t i = 1; i < n; i++)
      if (strcmp(items[i].key, items[i - 1].key) == 0 && (!dup_key || items[i].line < dup_line))
        dup_key = items[i].key, dup_line = items[i].line;
    if (dup_key) rc = nc_fail(NC_EFORMAT, "%s:%ld: '%s' is set twice", path, dup_line, dup_key);
    qsort(items, n, sizeof *items, by_line); /* keys keep the file's order */
  }
  if (rc == NC_OK && c->n == 0 && n > 0) { /* the usual case: append without lookups */
    if (n > (size_t)INT32_MAX / 2) rc = nc_fail(NC_EFORMAT, "%s: too many lines", path);
    nc_config_entry *grown = rc ? NULL : realloc(c->items, n * sizeof *c->items);
    if (!rc && !grown) rc = nc_fail(NC_ENOMEM, "out of memory");
    if (!rc) {
      c->items = grown;
      c->cap = (int)n;
      for (size_t i = 0; i < n; i++) {
        c->items[c->n++] = (nc_config_entry){items[i].key, items[i].value};
        items[i].key = items[i].value = NULL; /* owned by c now */
      }
    }
  } else {
    for (size_t i = 0; i < n && rc == NC_OK; i++)
      rc = nc_config_set(c, items[i].key, items[i].value);
  }
  for (size_t i = 0; i < n; i++) free(items[i].key), free(items[i].value);
  free(items);
  return rc;
}
