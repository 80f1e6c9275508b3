// ctest-labels: unit
/* The option parser: types, ranges, NaN, missing values and unknown flags. */
#include <string.h>

#include "ncssl/args.h"
#include "ncssl/status.h"
#include "testing.h"

static double x = 1.5, prob = 0.5;
static long n = 3;
static int flag = 0;
static const char *pred = "trained";
static nc_doubles list = {{0.1}, 1};
static const nc_opt opts[] = {
    {"x", NC_OPT_DOUBLE, &x, "a number", NC_NONNEG},
    {"n", NC_OPT_INT, &n, "a count", .lo = 1, .has_lo = 1},
    {"prob", NC_OPT_DOUBLE, &prob, "a probability", NC_PROB},
    {"flag", NC_OPT_FLAG, &flag, "a switch"},
    {"predictor", NC_OPT_CHOICE, &pred, "kind", .choices = "trained|identity|directpred"},
    {"p0", NC_OPT_DOUBLES, &list, "list", NC_NONNEG},
};
static const nc_cmd_spec spec = {"test", "[options]", "a test", opts, 6, 1};

static int parse(const char *line, nc_args *a) {
  char buf[512], *argv[32];
  int argc = 0;
  strcpy(buf, line);
  for (char *t = strtok(buf, " "); t; t = strtok(NULL, " ")) argv[argc++] = t;
  return nc_args_parse(&spec, argc, argv, a);
}

static int fails_with(const char *line, const char *needle) {
  nc_args a;
  int rc = parse(line, &a);
  if (rc != NC_EUSAGE) return 0;
  if (!strstr(nc_last_error(), needle)) {
    fprintf(stderr, "message '%s' lacks '%s'\n", nc_last_error(), needle);
    return 0;
  }
  return 1;
}

int main(void) {
  nc_args a;
  CHECK(parse("--x 2.5 --n=7 --flag --predictor directpred --p0 0.1,0.2,0.3 pos", &a) == NC_OK);
  CHECK_NEAR(x, 2.5, 0);
  CHECK(n == 7);
  CHECK(flag == 1);
  CHECK(strcmp(pred, "directpred") == 0);
  CHECK(list.n == 3 && list.v[2] == 0.3);
  CHECK(a.npositional == 1 && strcmp(a.positional[0], "pos") == 0);

  CHECK(fails_with("--bogus 1", "--bogus: unknown option"));
  CHECK(fails_with("--x", "--x: missing value"));
  CHECK(fails_with("--x abc", "--x: expected a number, got 'abc'"));
  CHECK(fails_with("--x nan", "--x: must be finite"));
  CHECK(fails_with("--x inf", "--x: must be finite"));
  CHECK(fails_with("--x -1", "--x: must be >= 0"));
  CHECK(fails_with("--n 0", "--n: must be >= 1"));
  CHECK(fails_with("--n 2.5", "--n: expected an integer"));
  CHECK(fails_with("--prob 1.5", "--prob: must be <= 1"));
  CHECK(fails_with("--prob -0.1", "--prob: must be >= 0"));
  CHECK(fails_with("--predictor mlp", "--predictor: expected one of trained|identity|directpred"));
  CHECK(fails_with("--p0 0.1,,0.2", "--p0: expected a comma-separated list"));
  CHECK(fails_with("--p0 0.1,-2", "--p0: must be >= 0"));
  CHECK(fails_with("--flag=1", "--flag: takes no value"));
  CHECK(fails_with("a b", "unexpected argument 'b'"));
  CHECK(fails_with("-z", "-z: unknown option"));

  /* "Did you mean": foreign spellings mapped, typos by edit distance, nothing when far off. */
  static long batch = 128, threads = 0;
  static double wd = 4e-4, warmup = 0;
  static const nc_opt topts[] = {
      {"batch", NC_OPT_INT, &batch, "batch"},
      {"wd", NC_OPT_DOUBLE, &wd, "weight decay"},
      {"warmup-epochs", NC_OPT_DOUBLE, &warmup, "warm-up"},
      {"loader-threads", NC_OPT_INT, &threads, "loader threads"},
  };
  static const nc_cmd_spec tspec = {"train", "", "", topts, 4, 0};
  static const struct {
    const char *flag, *want;
  } cases[] = {
      {"--batch-size", "batch"},
      {"--batch_size", "batch"},
      {"-b", "batch"},
      {"--bacth", "batch"},
      {"--weight-decay", "wd"},
      {"--weight_decay", "wd"},
      {"--lr-warmup", "warmup-epochs"},
      {"--warmup_epochs", "warmup-epochs"},
      {"--num-workers", "loader-threads"},
      {"--batch=4", "batch"},
      {"--wat", NULL},
      {"--lr", NULL}, /* an alias whose target this command lacks is not suggested */
      {"--momentum", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = nc_args_suggest(&tspec, cases[i].flag);
    int ok = cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL;
    if (!ok)
      fprintf(stderr, "suggest(%s) = %s, want %s\n", cases[i].flag, got ? got : "NULL",
              cases[i].want ? cases[i].want : "NULL");
    CHECK(ok);
  }
  char *argv1[] = {"--batch-size", "64"};
  nc_args ta;
  CHECK(nc_args_parse(&tspec, 2, argv1, &ta) == NC_EUSAGE);
  CHECK(strstr(nc_last_error(), "--batch-size: unknown option; did you mean --batch?") != NULL);
  char *argv2[] = {"-b", "64"};
  CHECK(nc_args_parse(&tspec, 2, argv2, &ta) == NC_EUSAGE);
  CHECK(strstr(nc_last_error(), "-b: unknown option; did you mean --batch?") != NULL);
  return nc_test_done();
}
