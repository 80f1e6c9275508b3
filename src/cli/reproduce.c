/* `ncssl reproduce`: the paper's deep-network experiments (include/ncssl/experiments.h) run as
 * ordinary `ncssl train` run directories under one folder, each evaluated by the linear probe and
 * kNN on its backbone, then one table per experiment: the paper's number beside ours (mean ± std
 * over seeds) and each claim's verdict computed from the measurements.
 *
 * A run is (the scale's options + a row's options, seed); its directory name is derived from those,
 * so rows shared by several experiments run once, and a directory with result.txt (written last,
 * atomically) is finished and not rerun; one with only a checkpoint is resumed. --jobs N runs N
 * rows at once in forked children (each calls the library; nothing is shelled out). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ncssl/clock.h"
#include "ncssl/experiments.h"
#include "ncssl/json.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"
#include "train_prepare.h"

enum { MAX_RUNS = 1024, MAX_TOKENS = 96 };

/* One training run and, once loaded, what it measured (NaN when absent). */
typedef struct {
  char opts[512]; /* the scale's options + the row's */
  int seed;
  char dir[1024];
  int done, failed;
  int floor; /* the scale's random-init floor: evaluated untrained, no training */
  double probe, knn, seconds;
} run_t;

static int file_exists(const char *dir, const char *name) {
  char p[1200];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0;
}

/* Splits a copy of opts into argv tokens (spaces). */
static int tokenize(char *buf, char **argv, int cap) {
  int n = 0;
  for (char *t = strtok(buf, " "); t && n < cap; t = strtok(NULL, " ")) argv[n++] = t;
  return n;
}

/* argv for `ncssl train`: the run's options, its seed, directory and thread count. */
static int run_argv(const run_t *r, char *buf, size_t cap, char **argv, char *seed, char *threads,
                    long nthreads, const char *data_dir) {
  snprintf(buf, cap, "%s", r->opts);
  int n = tokenize(buf, argv, MAX_TOKENS - 8);
  snprintf(seed, 32, "%d", r->seed);
  snprintf(threads, 32, "%ld", nthreads);
  argv[n++] = "--seed", argv[n++] = seed;
  argv[n++] = "--out", argv[n++] = (char *)r->dir;
  argv[n++] = "--threads", argv[n++] = threads;
  if (data_dir && *data_dir) argv[n++] = "--data-dir", argv[n++] = (char *)data_dir;
  return n;
}

/* First and last value of a monitor field over the run (element 0 for arrays: F's top eigenvector
 * for "alignment"). */
static void monitor_span(const nc_metrics_log *log, const char *key, double *first, double *last) {
  *first = *last = NAN;
  for (int i = 0; i < log->n; i++) {
    const nc_metric_record *rec = &log->records[i];
    if (strcmp(rec->type, "monitor") != 0) continue;
    const nc_metric_field *f = nc_metric_get(rec, key);
    if (!f) continue;
    double v = f->kind == NC_MV_NUM ? f->num : f->kind == NC_MV_NUMS && f->n > 0 ? f->nums[0] : NAN;
    if (isnan(v)) continue;
    if (isnan(*first)) *first = v;
    *last = v;
  }
}

/* Probe + kNN of the run's backbone on the scale's evaluation subsets; appends the eval record to
 * metrics.jsonl (for `ncssl report`). */
static int evaluate(const nc_train_opts *o, const nc_exp_scale *sc, int seed, long steps,
                    int random_init, double *probe_best, double *knn) {
  char ckpt[1200];
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", o->out);
  nc_resnet_cfg cfg = o->ssl.backbone;
  int rc = random_init ? NC_OK : nc_train_read_arch(ckpt, &cfg, NULL, NULL);
  if (rc) return rc;
  nc_data_opts dopts = {0};
  dopts.dir = o->data_dir;
  nc_dataset train = {0}, test = {0};
  nc_net *net = NULL;
  nc_probe_result probe = {0};
  nc_aug_preset aug;
  if ((rc = nc_dataset_load(o->data, "train", &dopts, &train)) ||
      (rc = nc_dataset_load(o->data, "test", &dopts, &test)))
    goto done;
  if (sc->eval_train > 0 && sc->eval_train < train.n) train.n = sc->eval_train;
  if (sc->eval_test > 0 && sc->eval_test < test.n) test.n = sc->eval_test;
  if ((rc = nc_aug_preset_get(
           o->preset && *o->preset ? o->preset : nc_train_default_preset(o->data), 0, &aug)))
    goto done;
  if (random_init) cfg.in_channels = train.c; /* as nc_train_run fills it in from the data */
  if ((rc = nc_resnet_build(&net, &cfg, aug.view[0].size, aug.view[0].size, 256, 1, 0, NULL)))
    goto done;
  if (random_init) {
    nc_rng r = nc_ssl_online_stream((uint64_t)seed);
    nc_net_init(net, &r);
  } else if ((rc = nc_train_load_backbone(net, ckpt))) {
    goto done;
  }
  nc_probe_config pc = nc_probe_default();
  pc.epochs = sc->probe_epochs;
  pc.seed = (uint64_t)seed;
  nc_knn_config kc = nc_knn_default();
  kc.k = sc->knn_k;
  if ((rc = nc_train_evaluate(net, &train, &test, &aug.view[0], &pc, &kc, &probe, knn))) goto done;
  *probe_best = 100 * probe.best_top1;
  *knn *= 100;
  if (random_init) goto done; /* no run directory of a training run to log into */
  char mpath[1200];
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", o->out);
  nc_metrics *m = NULL;
  if (!(rc = nc_metrics_open(&m, mpath, 1))) {
    rc = nc_metrics_eval(m, steps, o->epochs, &probe, *knn / 100);
    nc_metrics_close(m);
  }
done:
  nc_probe_result_free(&probe);
  nc_net_free(net);
  nc_dataset_free(&train), nc_dataset_free(&test);
  return rc;
}

/* The floor: the untrained backbone evaluated as a run's is; result.txt holds what a run's does
 * (probe_best_top1, knn_top1, seconds). */
static int floor_one(const run_t *r, const nc_train_opts *o, const nc_exp_scale *sc, double t0) {
  double probe = NAN, knn = NAN;
  char rpath[1200];
  snprintf(rpath, sizeof rpath, "%s/result.txt", r->dir);
  int rc = nc_mkdir_p(r->dir);
  if (!rc) rc = evaluate(o, sc, r->seed, 0, 1, &probe, &knn);
  nc_config out = {0};
  if (!rc) rc = nc_config_setf(&out, "probe_best_top1", "%.17g", probe);
  if (!rc) rc = nc_config_setf(&out, "knn_top1", "%.17g", knn);
  if (!rc) rc = nc_config_set(&out, "random_init", "1");
  if (!rc) rc = nc_config_setf(&out, "seconds", "%.3f", nc_now_seconds() - t0);
  if (!rc) rc = nc_config_write(&out, rpath);
  nc_config_free(&out);
  if (rc) fprintf(stderr, "ncssl: reproduce: %s: %s\n", r->dir, nc_last_error());
  return rc ? NC_EXIT_FAIL : NC_EXIT_OK;
}

/* Trains (or resumes) one run, evaluates it and writes result.txt last. Runs in a child process:
 * returns its exit status. */
static int run_one(const run_t *r, const nc_exp_scale *sc, long threads, const char *data_dir) {
  char buf[600], seed[32], thr[32], *argv[MAX_TOKENS];
  int argc = run_argv(r, buf, sizeof buf, argv, seed, thr, threads, data_dir);
  nc_train_opts o;
  char *text = NULL;
  int rc = nc_train_cli_prepare(argc, argv, &o, &text); /* nc_train_run writes config.txt */
  if (rc >= 0) return rc;
  double t0 = nc_now_seconds();
  if (r->floor) {
    free(text);
    return floor_one(r, &o, sc, t0);
  }
  /* A row with a checkpoint continues; one without (killed before its first save) starts over. */
  o.resume = file_exists(r->dir, "checkpoint.safetensors");
  o.force = !o.resume;
  nc_train_result res;
  double probe = NAN, knn = NAN;
  if ((rc = nc_train_run(&o, &res)) ||
      (rc = evaluate(&o, sc, r->seed, res.steps, 0, &probe, &knn))) {
    fprintf(stderr, "ncssl: reproduce: %s: %s\n", r->dir, nc_last_error());
    free(text);
    return NC_EXIT_FAIL;
  }
  nc_metrics_log log = {0};
  double af = NAN, al = NAN, sf = NAN, sl = NAN;
  char mpath[1200], rpath[1200];
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", r->dir);
  if (nc_metrics_read(mpath, &log) == NC_OK) {
    monitor_span(&log, "alignment", &af, &al);
    monitor_span(&log, "asymmetry", &sf, &sl);
  }
  nc_metrics_log_free(&log);
  nc_config out = {0};
  rc = nc_config_setf(&out, "probe_best_top1", "%.17g", probe);
  if (!rc) rc = nc_config_setf(&out, "knn_top1", "%.17g", knn);
  if (!rc) rc = nc_config_setf(&out, "steps", "%ld", res.steps);
  if (!rc) rc = nc_config_setf(&out, "last_loss", "%.17g", res.last_loss);
  if (!rc) rc = nc_config_setf(&out, "effective_rank", "%.17g", res.effective_rank);
  if (!rc) rc = nc_config_setf(&out, "collapsed", "%d", res.collapsed);
  if (!rc) rc = nc_config_setf(&out, "alignment_first", "%.17g", af);
  if (!rc) rc = nc_config_setf(&out, "alignment_last", "%.17g", al);
  if (!rc) rc = nc_config_setf(&out, "asymmetry_first", "%.17g", sf);
  if (!rc) rc = nc_config_setf(&out, "asymmetry_last", "%.17g", sl);
  if (!rc) rc = nc_config_setf(&out, "seconds", "%.3f", nc_now_seconds() - t0);
  snprintf(rpath, sizeof rpath, "%s/result.txt", r->dir);
  if (!rc) rc = nc_config_write(&out, rpath);
  nc_config_free(&out);
  free(text);
  if (rc) fprintf(stderr, "ncssl: reproduce: %s: %s\n", rpath, nc_last_error());
  return rc ? NC_EXIT_FAIL : NC_EXIT_OK;
}

/* A finished run is one with a readable result.txt; a malformed one is run again (its rerun
 * replaces it). */
static void load_result(run_t *r) {
  nc_exp_run_result res;
  int found = 0;
  r->done = nc_exp_result_read(r->dir, &res, &found) == NC_OK && found;
  r->probe = res.probe, r->knn = res.knn, r->seconds = res.seconds;
}

/* Runs the unfinished runs, `jobs` at a time in forked children. Returns the number that failed. */
static int run_pending(run_t *runs, int nruns, const nc_exp_scale *sc, long jobs, long threads,
                       const char *data_dir, int quiet) {
  int pending = 0, failed = 0, running = 0, next = 0, finished = 0;
  pid_t pids[64];
  int which[64];
  for (int i = 0; i < nruns; i++) pending += !runs[i].done;
  if (!quiet)
    printf("%d runs, %d already done, %d to run (%ld at a time)\n", nruns, nruns - pending, pending,
           jobs);
  fflush(stdout);
  double t0 = nc_now_seconds();
  while (finished < pending) {
    while (running < jobs && next < nruns) {
      if (runs[next].done) {
        next++;
        continue;
      }
      fflush(stdout), fflush(stderr);
      pid_t pid = fork();
      if (pid == 0) _exit(run_one(&runs[next], sc, threads, data_dir));
      if (pid < 0) { /* cannot fork: count it as failed and go on */
        runs[next].failed = 1, failed++, finished++, next++;
        continue;
      }
      pids[running] = pid, which[running] = next, running++, next++;
    }
    if (running == 0) break;
    int status;
    pid_t pid = wait(&status);
    if (pid < 0) break;
    for (int k = 0; k < running; k++)
      if (pids[k] == pid) {
        run_t *r = &runs[which[k]];
        pids[k] = pids[running - 1], which[k] = which[running - 1], running--;
        finished++;
        load_result(r);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !r->done) {
          r->failed = 1, failed++;
          fprintf(stderr, "ncssl: reproduce: run %s failed\n", r->dir);
        } else if (!quiet) {
          printf("[%d/%d] %s: probe %.2f%%, kNN %.2f%% (%.0f s; %.0f s so far)\n", finished,
                 pending, r->dir, r->probe, r->knn, r->seconds, nc_now_seconds() - t0);
        }
        fflush(stdout);
        break;
      }
  }
  return failed;
}

/* The runs of one row of an experiment: indices into runs, one per seed. */
static int find_run(const run_t *runs, int nruns, const char *dir) {
  for (int i = 0; i < nruns; i++)
    if (strcmp(runs[i].dir, dir) == 0) return i;
  return -1;
}

static void print_text(const nc_experiment *e, const nc_exp_summary *s) {
  printf("\n== %s: %s\n   paper: %s\n", e->name, e->title, e->paper_data);
  printf("   %-44s %-22s %-22s %s\n", "row", "paper (top-1 %)", "ours: probe (seeds)", "kNN");
  for (int i = 0; i < e->nrows; i++) {
    const nc_exp_measure *m = &s->m[i];
    char ours[48], knn[32];
    if (m->n)
      snprintf(ours, sizeof ours, "%.2f ± %.2f (%d)", m->mean, m->std, m->n);
    else
      snprintf(ours, sizeof ours, "no result");
    snprintf(knn, sizeof knn, m->n ? "%.2f" : "-", s->knn_mean[i]);
    printf("   %-44s %-22s %-22s %s", e->rows[i].label, *e->rows[i].paper ? e->rows[i].paper : "-",
           ours, knn);
    if (!isnan(m->first)) printf("   alignment %.3f -> %.3f", m->first, m->last);
    printf("\n");
  }
  for (int c = 0; c < e->nclaims; c++) {
    const nc_claim_result *r = &s->cr[c];
    printf("   claim: %s\n     -> %s", e->claims[c].text, nc_verdict_name(r->verdict));
    if (r->missing)
      printf(" (%d row%s without a result)\n", r->missing, r->missing > 1 ? "s" : "");
    else
      printf(" (margin %+.3g ± %.2g: reproduced needs > +2 se, not reproduced < -2 se)\n", r->diff,
             r->se);
  }
}

/* Is experiment `name` in the comma-separated list? */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return 1;
    p += len + (end != NULL);
  }
  return 0;
}

/* OUT/reproduce.txt, written before anything runs so that `ncssl report OUT` finds the tables of
 * an interrupted suite too: the scale (one per folder: the run directories of two scales would
 * share it and the tables could not tell them apart) and the most seeds any invocation asked for
 * (a rerun with fewer does not hide the runs of the others). Raises *seeds to that number. */
static int write_marker(const char *out, const nc_exp_scale *sc, int *seeds) {
  char path[1200], msg[1400];
  snprintf(path, sizeof path, "%s/" NC_EXP_MARKER, out);
  nc_config c = {0};
  struct stat st;
  int rc = NC_OK;
  if (stat(path, &st) == 0) {
    if (nc_config_read(&c, path)) {
      nc_config_free(&c);
      return nc_cli_error(NC_EXIT_FAIL, NULL);
    }
    const char *scale = nc_config_get(&c, "scale"), *n = nc_config_get(&c, "seeds");
    if (scale && strcmp(scale, sc->name) != 0) {
      snprintf(msg, sizeof msg,
               "--out: %s holds the runs of --scale %s (%s); give another folder for --scale %s",
               out, scale, path, sc->name);
      nc_config_free(&c);
      return nc_cli_error(NC_EXIT_USAGE, msg);
    }
    if (n && atoi(n) > *seeds && atoi(n) <= 64) *seeds = atoi(n);
  }
  rc = nc_config_set(&c, "scale", sc->name);
  if (!rc) rc = nc_config_setf(&c, "seeds", "%d", *seeds);
  if (!rc) rc = nc_config_write(&c, path);
  nc_config_free(&c);
  return rc ? nc_cli_error(NC_EXIT_FAIL, NULL) : NC_EXIT_OK;
}

int cmd_reproduce(int argc, char **argv) {
  const char *scale_name = "small", *out = "", *only = "", *data_dir = "";
  long jobs = 1, threads = 0, seeds = 0;
  int list = 0, json = 0, dry = 0;
  nc_opt opts[] = {
      {"list", NC_OPT_FLAG, &list, "list the experiments and the scales, run nothing"},
      {"scale", NC_OPT_CHOICE, &scale_name, "quick (CI smoke), small (Fashion-MNIST), paper",
       .choices = "quick|small|paper"},
      {"out", NC_OPT_STRING, &out, "folder of the run directories (OUT/runs/...)"},
      {"only", NC_OPT_STRING, &only, "comma-separated experiments (default: all)"},
      {"jobs", NC_OPT_INT, &jobs, "runs at a time (forked processes)", NC_RANGE(1, 64)},
      {"threads", NC_OPT_INT, &threads, "compute threads per run (0: cores / jobs)",
       NC_RANGE(0, 1024)},
      {"seeds", NC_OPT_INT, &seeds, "seeds per row (0: the scale's)", NC_RANGE(0, 64)},
      {"data-dir", NC_OPT_STRING, &data_dir, "dataset directory (empty: the default)"},
      {"dry-run", NC_OPT_FLAG, &dry,
       "check every run's options as `ncssl train` would, run nothing"},
      {"json", NC_OPT_FLAG, &json, "print the tables as JSON"},
  };
  const nc_cmd_spec spec = {
      "reproduce",
      "--out DIR [--scale quick|small|paper] [--only EXP,...] [--jobs N] [--json] | --list",
      "Runs the paper's deep-network experiments (Tables 1, 2, 3, 5, 6, 7, 8, Figs 2 and 6, and\n"
      "DirectPred against the trained linear and two-layer predictors) as `ncssl train` run\n"
      "directories under DIR/runs, evaluates each backbone (linear probe + kNN), and prints one\n"
      "table per experiment: the paper's number beside ours (mean ± std over seeds) and each\n"
      "claim's verdict (reproduced / not reproduced / undecided), computed from the runs.\n"
      "Finished runs (result.txt present) are not rerun; interrupted ones are resumed.\n"
      "DIR/reproduce.txt records the scale (one per folder); `ncssl report DIR` draws the\n"
      "same tables with Figs 2 and 6.",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  int nexp;
  const nc_experiment *exps = nc_experiments(&nexp);
  const nc_exp_scale *sc = nc_exp_scale_get(scale_name);
  if (*only)
    for (const char *p = only; *p;) { /* every listed name must exist */
      const char *end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      int found = 0;
      for (int e = 0; e < nexp; e++)
        found |= strlen(exps[e].name) == len && strncmp(exps[e].name, p, len) == 0;
      if (!found) {
        char msg[160];
        snprintf(msg, sizeof msg, "--only: unknown experiment '%.*s' (see --list)", (int)len, p);
        return nc_cli_error(NC_EXIT_USAGE, msg);
      }
      p += len + (end != NULL);
    }
  if (list) {
    printf("experiments (rows x seeds runs; shared rows run once):\n");
    for (int e = 0; e < nexp; e++)
      printf("  %-15s %2d rows, %d claim%s  %s\n", exps[e].name, exps[e].nrows, exps[e].nclaims,
             exps[e].nclaims > 1 ? "s" : "", exps[e].title);
    printf("scales:\n");
    const char *names[3] = {"quick", "small", "paper"};
    for (int k = 0; k < 3; k++) {
      const nc_exp_scale *s = nc_exp_scale_get(names[k]);
      printf("  %-6s %d seed%s; %s\n         train options: %s\n", s->name, s->seeds,
             s->seeds > 1 ? "s" : "", s->summary, s->options);
    }
    return NC_EXIT_OK;
  }
  if (!*out) return nc_cli_error(NC_EXIT_USAGE, "--out: a folder for the runs is required");
  int nseeds = seeds > 0 ? (int)seeds : sc->seeds;
  /* The runs: every (row, seed) of the chosen experiments, once each. */
  run_t *runs = calloc(MAX_RUNS, sizeof *runs);
  if (!runs) return nc_cli_error(NC_EXIT_FAIL, "out of memory");
  int nruns = 0;
  /* The random-init floor first, one per seed (seconds each); its options only say what the
   * data and the backbone are, the predictor is any that trains. */
  for (int k = 0; k < nseeds; k++) {
    run_t *r = &runs[nruns++];
    snprintf(r->opts, sizeof r->opts, "%s --predictor linear", sc->options);
    nc_exp_run_dir(out, sc->options, NC_EXP_FLOOR, k, r->dir, sizeof r->dir);
    r->seed = k, r->floor = 1;
    load_result(r);
  }
  for (int e = 0; e < nexp; e++) {
    if (*only && !listed(only, exps[e].name)) continue;
    for (int i = 0; i < exps[e].nrows; i++)
      for (int k = 0; k < nseeds; k++) {
        char dir[1024];
        nc_exp_run_dir(out, sc->options, exps[e].rows[i].options, k, dir, sizeof dir);
        if (find_run(runs, nruns, dir) >= 0 || nruns == MAX_RUNS) continue;
        run_t *r = &runs[nruns++];
        snprintf(r->opts, sizeof r->opts, "%s %s", sc->options, exps[e].rows[i].options);
        snprintf(r->dir, sizeof r->dir, "%s", dir);
        r->seed = k;
        load_result(r);
      }
  }
  if (threads == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores > jobs ? cores / jobs : 1;
  }
  /* Every run's options checked as `ncssl train` checks them, before anything runs. */
  for (int i = 0; i < nruns; i++) {
    char buf[600], sd[32], th[32], *av[MAX_TOKENS];
    int ac = run_argv(&runs[i], buf, sizeof buf, av, sd, th, threads, data_dir);
    nc_train_opts o;
    char *text = NULL;
    rc = nc_train_cli_prepare(ac, av, &o, &text);
    free(text);
    if (rc >= 0) {
      fprintf(stderr, "ncssl: reproduce: the options of %s are refused (above)\n", runs[i].dir);
      free(runs);
      return NC_EXIT_FAIL;
    }
  }
  if (dry) {
    printf("%d runs (%d seeds), every run's options accepted by `ncssl train`\n", nruns, nseeds);
    free(runs);
    return NC_EXIT_OK;
  }
  if (strcmp(sc->name, "paper") == 0) { /* say clearly when the data are missing */
    nc_data_opts dopts = {0};
    dopts.dir = data_dir;
    nc_dataset probe = {0};
    if (nc_dataset_load("stl10", "test", &dopts, &probe)) {
      char msg[512];
      snprintf(msg, sizeof msg,
               "--scale paper needs STL-10 (the paper's data) and it is not there: %s",
               nc_last_error());
      free(runs);
      return nc_cli_error(NC_EXIT_FAIL, msg);
    }
    nc_dataset_free(&probe);
  }
  if ((rc = nc_mkdir_p(out))) {
    free(runs);
    return nc_cli_error_flag(NC_EXIT_FAIL, "--out");
  }
  if ((rc = write_marker(out, sc, &nseeds))) {
    free(runs);
    return rc;
  }
  int failed = run_pending(runs, nruns, sc, jobs, threads, data_dir, json);
  int first = 1;
  nc_exp_floor floor;
  if (nc_exp_floor_read(sc, nseeds, out, &floor)) {
    free(runs);
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  }
  if (json) {
    printf("{\"scale\": ");
    nc_json_str(stdout, sc->name);
    printf(", \"seeds\": %d, \"runs\": %d, \"failed\": %d, \"random_init_floor\": ", nseeds, nruns,
           failed);
    nc_exp_floor_json(stdout, &floor);
    printf(", \"experiments\": [");
  } else if (floor.n) {
    printf(
        "\nrandom-init floor (the untrained backbone, evaluated as every run): probe %.2f ± %.2f, "
        "kNN %.2f (%d seed%s)\n",
        floor.probe, floor.probe_std, floor.knn, floor.n, floor.n > 1 ? "s" : "");
  }
  for (int e = 0; e < nexp; e++) {
    if (*only && !listed(only, exps[e].name)) continue;
    nc_exp_summary s;
    if (nc_exp_summarize(&exps[e], sc, nseeds, out, &s)) {
      if (json) printf("]}\n");
      fflush(stdout);
      free(runs);
      return nc_cli_error(NC_EXIT_FAIL, NULL);
    }
    if (json) {
      printf("%s", first ? "" : ", ");
      nc_exp_summary_json(stdout, &exps[e], &s);
    } else {
      print_text(&exps[e], &s);
    }
    first = 0;
  }
  if (json) printf("]}\n");
  free(runs);
  if (failed) {
    fprintf(stderr, "ncssl: reproduce: %d run%s failed (their rows show no result)\n", failed,
            failed > 1 ? "s" : "");
    return NC_EXIT_FAIL;
  }
  return NC_EXIT_OK;
}
