/* `ncssl report RUN_DIR [RUN_DIR …]`: the paper's pictures for training runs, on one static page.
 * A folder of `ncssl reproduce --out DIR` (it holds reproduce.txt) given among them adds the
 * Reproduce section: its tables, verdicts and Figs 2 and 6; a malformed result.txt there stops
 * the report with one error line naming the file, before anything is written.
 *
 * Exit status: 0 when the page was written and every run had something to plot; 1 when a run has
 * nothing to plot (missing directory, no or empty or unreadable metrics.jsonl) — the page is still
 * written, with a notice saying what is missing, unless its directory is itself the missing run
 * (give --out) — or when the page cannot be written; 2 for bad usage. */
#include "ncssl/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "ncssl/json.h"
#include "ncssl/status.h"

static void print_json(const char *page, const nc_report_run *runs, int n,
                       const nc_report_reproduce *rep, const nc_report_summary *s) {
  printf("{\"report\": ");
  nc_json_str(stdout, page);
  if (rep) {
    printf(", ");
    nc_report_reproduce_json(stdout, rep);
  }
  printf(", \"figures\": [");
  int listed = s->figures < 16 ? s->figures : 16;
  for (int i = 0; i < listed; i++) {
    printf("%s", i ? ", " : "");
    nc_json_str(stdout, s->stems[i]);
  }
  printf("], \"runs\": [");
  for (int r = 0; r < n; r++) {
    printf("%s{\"dir\": ", r ? ", " : "");
    nc_json_str(stdout, runs[r].dir);
    printf(", \"label\": ");
    nc_json_str(stdout, runs[r].label);
    printf(", \"usable\": %s, \"records\": %d, \"notices\": [", runs[r].usable ? "true" : "false",
           runs[r].has_metrics ? runs[r].log.n : 0);
    for (int i = 0; i < runs[r].nnotices; i++) {
      printf("%s", i ? ", " : "");
      nc_json_str(stdout, runs[r].notices[i]);
    }
    printf("]}");
  }
  printf("], \"notices\": %d, \"unusable_runs\": %d}\n", s->notices, s->unusable_runs);
}

int cmd_report(int argc, char **argv) {
  const char *out = NULL;
  int json = 0;
  const nc_opt opts[] = {
      {"out", NC_OPT_STRING, &out,
       "write report.html and report-figures/ here (created if missing; default: the first "
       "RUN_DIR)"},
      {"json", NC_OPT_FLAG, &json, "print the page's path, figures and notices as JSON"},
  };
  const nc_cmd_spec spec = {
      "report",
      "RUN_DIR [RUN_DIR ...] [--out DIR] [--json]",
      "Draws the paper's pictures for training runs (config.txt + metrics.jsonl, see\n"
      "docs/formats.md): loss and learning rate, the spectrum of F^ (Fig. 2), W_p's eigenvalues,\n"
      "alignment and asymmetry, effective rank and collapse warnings, probe and kNN accuracy;\n"
      "several runs are overlaid with a legend. Writes a static page DIR/report.html with PNG and\n"
      "SVG figures. Missing or damaged data is listed on the page. A folder written by `ncssl\n"
      "reproduce --out` gives the Reproduce section instead: one table per experiment (the\n"
      "paper's number beside ours, each claim's verdict, runs not yet run shown as missing) and\n"
      "Figs 2 and 6 from its runs. Exit status: 0 ok; 1 a run had nothing to plot (the page still\n"
      "says what is missing), a reproduce run's result.txt is malformed (no page written) or the\n"
      "page could not be written; 2 bad usage.",
      opts,
      sizeof opts / sizeof opts[0],
      NC_MAX_LIST};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  int n = args.npositional;
  if (n == 0) return nc_cli_error(NC_EXIT_USAGE, "report: missing RUN_DIR (see --help)");
  if (out && !out[0]) return nc_cli_error(NC_EXIT_USAGE, "--out: empty path");

  nc_report_run *runs = calloc((size_t)n, sizeof *runs);
  if (!runs) return nc_cli_error(NC_EXIT_FAIL, "out of memory");
  int code = NC_EXIT_OK, nruns = 0, have_rep = 0;
  nc_report_reproduce rep = {0};
  nc_config defaults = {0}; /* train's defaults: the page lists what a run changed up front */
  rc = NC_OK;
  for (int r = 0; r < n && !rc; r++) {
    const char *dir = args.positional[r];
    if (!nc_report_is_reproduce(dir)) {
      rc = nc_report_load(&runs[nruns++], dir);
      continue;
    }
    if (have_rep) { /* its figures' names would collide */
      code = nc_cli_error(NC_EXIT_USAGE, "report: one reproduce folder per page");
      goto done;
    }
    have_rep = 1;
    rc = nc_report_reproduce_load(&rep, dir);
  }
  if (!rc) rc = nc_report_label(runs, nruns);
  if (!rc) rc = nc_cli_train_defaults(&defaults);
  for (int r = 0; r < nruns && !rc; r++) runs[r].defaults = &defaults;
  if (rc) {
    code = nc_cli_error(NC_EXIT_FAIL, NULL);
    goto done;
  }
  for (int r = 0; r < nruns; r++)
    for (int i = 0; i < runs[r].nnotices; i++)
      fprintf(stderr, "ncssl: report: %s: %s\n", runs[r].label, runs[r].notices[i]);
  for (int i = 0; i < rep.nnotices; i++) fprintf(stderr, "ncssl: report: %s\n", rep.notices[i]);
  const char *dir = out ? out : args.positional[0];
  struct stat st;
  if (!out && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
    code = nc_cli_error(NC_EXIT_FAIL,
                        "report: no page written: the first run directory does not exist (give "
                        "--out DIR to write a page listing what is missing)");
    goto done;
  }
  nc_report_summary summary;
  if (nc_report_write_page(runs, nruns, have_rep ? &rep : NULL, dir, &summary)) {
    code = nc_cli_error(NC_EXIT_FAIL, NULL);
    goto done;
  }
  char page[4200];
  snprintf(page, sizeof page, "%s/report.html", dir);
  if (json)
    print_json(page, runs, nruns, have_rep ? &rep : NULL, &summary);
  else
    printf("report: %s (%d figures, %d notices)\n", page, summary.figures, summary.notices);
  if (summary.unusable_runs) code = NC_EXIT_FAIL;
done:
  nc_config_free(&defaults);
  nc_report_reproduce_free(&rep);
  for (int r = 0; r < n; r++) nc_report_run_free(&runs[r]);
  free(runs);
  return code;
}
