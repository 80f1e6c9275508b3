#include "ncssl/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"

int nc_parse_double(const char *what, const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || errno == ERANGE)
    return nc_fail(NC_EUSAGE, "%s: expected a number, got '%s'", what, text);
  if (!isfinite(v)) return nc_fail(NC_EUSAGE, "%s: must be finite, got '%s'", what, text);
  *out = v;
  return NC_OK;
}

int nc_parse_doubles(const char *what, const char *text, nc_doubles *out) {
  out->n = 0;
  const char *p = text;
  char buf[128];
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == 0 || len >= sizeof buf)
      return nc_fail(NC_EUSAGE, "%s: expected a comma-separated list of numbers, got '%s'", what,
                     text);
    if (out->n == NC_MAX_LIST)
      return nc_fail(NC_EUSAGE, "%s: at most %d values", what, NC_MAX_LIST);
    memcpy(buf, p, len);
    buf[len] = '\0';
    int rc = nc_parse_double(what, buf, &out->v[out->n]);
    if (rc) return rc;
    out->n++;
    if (!comma) return NC_OK;
    p = comma + 1;
  }
}

static int check_range(const nc_opt *o, const char *flag, double v) {
  if (o->has_lo && (o->lo_open ? !(v > o->lo) : !(v >= o->lo)))
    return nc_fail(NC_EUSAGE, "%s: must be %s %g, got %g", flag, o->lo_open ? ">" : ">=", o->lo, v);
  if (o->has_hi && !(v <= o->hi))
    return nc_fail(NC_EUSAGE, "%s: must be <= %g, got %g", flag, o->hi, v);
  return NC_OK;
}

static int choice_ok(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncmp(p, v, n) == 0) return 1;
    if (!bar) break;
    p = bar + 1;
  }
  return 0;
}

static int set_value(const nc_opt *o, const char *flag, const char *val) {
  int rc;
  switch (o->type) {
    case NC_OPT_FLAG:
      return nc_fail(NC_EUSAGE, "%s: takes no value", flag);
    case NC_OPT_INT: {
      char *end;
      errno = 0;
      long v = strtol(val, &end, 10);
      if (end == val || *end != '\0' || errno == ERANGE)
        return nc_fail(NC_EUSAGE, "%s: expected an integer, got '%s'", flag, val);
      if ((rc = check_range(o, flag, (double)v))) return rc;
      *(long *)o->dst = v;
      return NC_OK;
    }
    case NC_OPT_DOUBLE: {
      double v = 0;
      if ((rc = nc_parse_double(flag, val, &v))) return rc;
      if ((rc = check_range(o, flag, v))) return rc;
      *(double *)o->dst = v;
      return NC_OK;
    }
    case NC_OPT_STRING:
      if (!*val) return nc_fail(NC_EUSAGE, "%s: empty value", flag);
      *(const char **)o->dst = val;
      return NC_OK;
    case NC_OPT_CHOICE:
      if (!choice_ok(o->choices, val))
        return nc_fail(NC_EUSAGE, "%s: expected one of %s, got '%s'", flag, o->choices, val);
      *(const char **)o->dst = val;
      return NC_OK;
    case NC_OPT_DOUBLES: {
      nc_doubles *d = o->dst;
      if ((rc = nc_parse_doubles(flag, val, d))) return rc;
      for (int i = 0; i < d->n; i++)
        if ((rc = check_range(o, flag, d->v[i]))) return rc;
      return NC_OK;
    }
  }
  return nc_fail(NC_EINVAL, "%s: unknown option type", flag);
}

/* Spellings from PyTorch scripts and solo-learn / lightly configs, mapped to ours; an alias is
 * only suggested when the command has its target. Underscores are compared as dashes. */
static const struct {
  const char *theirs, *ours;
} aliases[] = {
    {"b", "batch"},
    {"batch-size", "batch"},
    {"bs", "batch"},
    {"weight-decay", "wd"},
    {"learning-rate", "lr"},
    {"base-lr", "lr"},
    {"lr-warmup", "warmup-epochs"},
    {"lr-warmup-epochs", "warmup-epochs"},
    {"warmup", "warmup-epochs"},
    {"max-epochs", "epochs"},
    {"num-epochs", "epochs"},
    {"j", "loader-threads"},
    {"workers", "loader-threads"},
    {"num-workers", "loader-threads"},
    {"dataset", "data"},
    {"data-path", "data-dir"},
    {"data-root", "data-dir"},
    {"root", "data-dir"},
    {"output-dir", "out"},
    {"output", "out"},
    {"o", "out"},
    {"checkpoint-dir", "out"},
    {"backbone", "arch"},
    {"proj-hidden-dim", "proj-hidden"},
    {"proj-output-dim", "proj-out"},
    {"pred-hidden-dim", "pred-hidden"},
    {"base-tau-momentum", "ema"},
    {"tau", "ema"},
    {"moving-average-decay", "ema"},
    {"optim", "optimizer"},
    {"scheduler", "schedule"},
    {"lr-scheduler", "schedule"},
    {"num-threads", "threads"},
    {"pretrained", "init-from"},
    {"weights", "init-from"},
    {"checkpoint", "resume"},
};

/* Levenshtein distance of two short strings (longer ones count as far apart). */
static int edit_distance(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > 63 || nb > 63) return 99;
  int row[64];
  for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= na; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= nb; j++) {
      int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[nb];
}

static const nc_opt *find_opt(const nc_cmd_spec *spec, const char *name) {
  for (int k = 0; k < spec->nopts; k++)
    if (strcmp(spec->opts[k].name, name) == 0) return &spec->opts[k];
  return NULL;
}

const char *nc_args_suggest(const nc_cmd_spec *spec, const char *flag) {
  char name[64];
  while (*flag == '-') flag++;
  size_t n = 0;
  for (; flag[n] && flag[n] != '=' && n + 1 < sizeof name; n++)
    name[n] = flag[n] == '_' ? '-' : flag[n];
  name[n] = '\0';
  if (!n) return NULL;
  const nc_opt *o = find_opt(spec, name); /* --batch_size style: only the underscore differs */
  if (o) return o->name;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(aliases[i].theirs, name) == 0 && (o = find_opt(spec, aliases[i].ours)))
      return o->name;
  /* A typo: the closest of the command's own flags, within 1 edit for short names, 2 for up to 8
   * letters ("bacth"), 3 beyond. */
  int best = 99;
  for (int k = 0; k < spec->nopts; k++) {
    int d = edit_distance(name, spec->opts[k].name);
    if (d < best) best = d, o = &spec->opts[k];
  }
  int limit = n <= 2 ? 0 : n <= 4 ? 1 : n <= 8 ? 2 : 3;
  return o && best <= limit ? o->name : NULL;
}

/* "FLAG: unknown option; did you mean --X? (see 'ncssl CMD --help')" */
static int unknown_option(const nc_cmd_spec *spec, const char *flag) {
  const char *s = nc_args_suggest(spec, flag);
  if (s)
    return nc_fail(NC_EUSAGE, "%s: unknown option; did you mean --%s? (see 'ncssl %s --help')",
                   flag, s, spec->command);
  return nc_fail(NC_EUSAGE, "%s: unknown option (see 'ncssl %s --help')", flag, spec->command);
}

int nc_args_given(const nc_args *args, const nc_cmd_spec *spec, const char *name) {
  for (int k = 0; k < spec->nopts && k < NC_MAX_OPTS; k++)
    if (strcmp(spec->opts[k].name, name) == 0) return args->given[k];
  return 0;
}

int nc_args_parse(const nc_cmd_spec *spec, int argc, char **argv, nc_args *out) {
  memset(out, 0, sizeof *out);
  if (spec->nopts > NC_MAX_OPTS)
    return nc_fail(NC_EINVAL, "%s: more than %d options", spec->command, NC_MAX_OPTS);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      nc_args_help(spec, stdout);
      out->help = 1;
      return NC_OK;
    }
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
      if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0) return unknown_option(spec, a);
      if (out->npositional >= spec->max_positional)
        return nc_fail(NC_EUSAGE, "unexpected argument '%s' (see 'ncssl %s --help')", a,
                       spec->command);
      out->positional[out->npositional++] = a;
      continue;
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const nc_opt *o = NULL;
    for (int k = 0; k < spec->nopts; k++)
      if (strlen(spec->opts[k].name) == nlen && strncmp(spec->opts[k].name, name, nlen) == 0)
        o = &spec->opts[k];
    char flag[96];
    snprintf(flag, sizeof flag, "--%.*s", (int)(nlen < 80 ? nlen : 80), name);
    if (!o) return unknown_option(spec, flag);
    out->given[o - spec->opts] = 1;
    if (o->type == NC_OPT_FLAG) {
      if (eq) return nc_fail(NC_EUSAGE, "%s: takes no value", flag);
      *(int *)o->dst = 1;
      continue;
    }
    const char *val;
    if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) return nc_fail(NC_EUSAGE, "%s: missing value", flag);
      val = argv[++i];
    }
    int rc = set_value(o, flag, val);
    if (rc) return rc;
  }
  return NC_OK;
}

static void print_default(const nc_opt *o, FILE *f) {
  switch (o->type) {
    case NC_OPT_FLAG:
      break;
    case NC_OPT_INT:
      fprintf(f, " (default %ld)", *(long *)o->dst);
      break;
    case NC_OPT_DOUBLE:
      fprintf(f, " (default %g)", *(double *)o->dst);
      break;
    case NC_OPT_STRING:
    case NC_OPT_CHOICE: {
      const char *s = *(const char **)o->dst;
      if (s) fprintf(f, " (default %s)", s);
      break;
    }
    case NC_OPT_DOUBLES: {
      const nc_doubles *d = o->dst;
      if (d->n) {
        fprintf(f, " (default ");
        for (int i = 0; i < d->n; i++) fprintf(f, "%s%g", i ? "," : "", d->v[i]);
        fprintf(f, ")");
      }
      break;
    }
  }
}

void nc_args_help(const nc_cmd_spec *spec, FILE *f) {
  fprintf(f, "usage: ncssl %s %s\n\n%s\n\noptions:\n", spec->command, spec->synopsis,
          spec->summary);
  for (int k = 0; k < spec->nopts; k++) {
    const nc_opt *o = &spec->opts[k];
    const char *meta = "";
    switch (o->type) {
      case NC_OPT_FLAG:
        meta = "";
        break;
      case NC_OPT_INT:
        meta = " N";
        break;
      case NC_OPT_DOUBLE:
        meta = " X";
        break;
      case NC_OPT_STRING:
        meta = " S";
        break;
      case NC_OPT_CHOICE:
        meta = " CHOICE";
        break;
      case NC_OPT_DOUBLES:
        meta = " X,Y,...";
        break;
    }
    char left[64];
    snprintf(left, sizeof left, "--%s%s", o->name, meta);
    fprintf(f, "  %-24s %s", left, o->help);
    if (o->type == NC_OPT_CHOICE) fprintf(f, " [%s]", o->choices);
    print_default(o, f);
    fputc('\n', f);
  }
  fprintf(f, "  %-24s %s\n", "--help", "show this help");
}
