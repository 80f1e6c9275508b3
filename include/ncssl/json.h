/* Minimal JSON output helpers: numbers print with full precision, non-finite ones as null. */
#ifndef NCSSL_JSON_H
#define NCSSL_JSON_H
#include <stdio.h>

/* Prints a number (%.17g trimmed to what round-trips) or null when it is NaN/Inf. */
void nc_json_num(FILE *f, double v);
/* v as the shortest decimal string that reads back (strtod) to exactly v: "0.3", "4e-4", "1200";
 * non-finite values as %g. For config files and tables people read. */
void nc_fmt_shortest(char *buf, size_t n, double v);
/* Prints `, "key": v` (a member after the first of an object), v as nc_json_num. */
void nc_json_field(FILE *f, const char *key, double v);
/* Prints a quoted, escaped JSON string. */
void nc_json_str(FILE *f, const char *s);
/* Prints [a, b, ...] with nc_json_num for each value. */
void nc_json_nums(FILE *f, const double *v, int n);

#endif
