#include "ncssl/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nc_json_num(FILE *f, double v) {
  if (!isfinite(v)) {
    fputs("null", f);
    return;
  }
  /* Shortest of %.15g / %.17g that reads back exactly. */
  char buf[40];
  snprintf(buf, sizeof buf, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
  fputs(buf, f);
}

/* "1.0000000000000001e-05" -> "1e-5": no '+', no leading zeros in the exponent. */
static void compact_exponent(char *s) {
  char *e = strchr(s, 'e');
  if (!e) return;
  char *d = e + 1, *src = e + 1;
  if (*src == '+') src++;
  if (*src == '-') *d++ = *src++;
  while (*src == '0' && src[1]) src++;
  memmove(d, src, strlen(src) + 1);
}

void nc_fmt_shortest(char *buf, size_t n, double v) {
  if (!isfinite(v)) {
    snprintf(buf, n, "%g", v);
    return;
  }
  /* The shortest %g or %e form, over every precision, that reads back exactly (0.3, 4e-4,
   * 1200; 0.30000000000000004 only when that is the value). */
  char g[40], e[40], best[40] = "";
  snprintf(best, sizeof best, "%.17g", v);
  for (int p = 1; p <= 17; p++) {
    snprintf(g, sizeof g, "%.*g", p, v);
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    compact_exponent(g);
    compact_exponent(e);
    if (strtod(g, NULL) == v && strlen(g) < strlen(best)) snprintf(best, sizeof best, "%s", g);
    if (strtod(e, NULL) == v && strlen(e) < strlen(best)) snprintf(best, sizeof best, "%s", e);
  }
  snprintf(buf, n, "%s", best);
}

void nc_json_field(FILE *f, const char *key, double v) {
  fprintf(f, ", \"%s\": ", key);
  nc_json_num(f, v);
}

void nc_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

void nc_json_nums(FILE *f, const double *v, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    nc_json_num(f, v[i]);
  }
  fputc(']', f);
}
