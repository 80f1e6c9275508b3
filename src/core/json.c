#include "ncssl/json.h"

#include <math.h>
#include <stdlib.h>

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
