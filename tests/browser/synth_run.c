/* Writes a realistic synthetic run directory for the report's browser test and docs figure:
 * the linear BYOL model (theory linear, SGD) trained as if by `ncssl train`, logged through the
 * runlog writer with the records docs/formats.md lists. Spectra, alignment, asymmetry, effective
 * rank, loss and images/s are measured from the model; the probe and kNN numbers are a stand-in
 * (a saturating function of the measured effective rank), since the linear model has no labels.
 *
 *   synth_run DIR PREDICTOR STEPS   PREDICTOR: trained | directpred | identity */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/clock.h"
#include "ncssl/linear.h"
#include "ncssl/monitor.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"

static int fail(const char *what) {
  fprintf(stderr, "synth_run: %s: %s\n", what, nc_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: synth_run DIR trained|directpred|identity STEPS\n");
    return 2;
  }
  const char *dir = argv[1], *pred = argv[2];
  long steps = atol(argv[3]);
  enum { D = 12, EVERY = 25, STEPS_PER_EPOCH = 100 };
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.mode = NC_LIN_SGD;
  p.n1 = p.n2 = D;
  p.data = NC_DATA_ADDITIVE;
  double spectrum[D];
  for (int j = 0; j < D; j++) spectrum[j] = 2.0 * pow(0.7, j); /* decaying input spectrum */
  p.spectrum = spectrum, p.nspectrum = D;
  p.sigma2 = 0.3;
  p.predictor = strcmp(pred, "directpred") == 0 ? NC_PRED_DIRECTPRED
                : strcmp(pred, "identity") == 0 ? NC_PRED_IDENTITY
                                                : NC_PRED_TRAINED;
  p.eta = p.eta_p = 0.02;
  p.init_scale = 0.5;
  p.dt = 0.05;
  p.batch = 128;
  p.seed = 7;

  nc_config cfg = {0};
  char path[4200];
  if (nc_mkdir_p(dir)) return fail(dir);
  nc_config_set(&cfg, "model", "linear BYOL (synthetic run for the report test)");
  nc_config_set(&cfg, "predictor", pred);
  nc_config_setf(&cfg, "dim", "%d", D);
  nc_config_setf(&cfg, "steps", "%ld", steps);
  nc_config_setf(&cfg, "batch", "%ld", p.batch);
  nc_config_setf(&cfg, "lr", "%g", p.dt);
  nc_config_setf(&cfg, "wd", "%g", p.eta);
  nc_config_setf(&cfg, "ema", "%g", p.beta);
  nc_config_setf(&cfg, "monitor_every", "%d", EVERY);
  nc_config_setf(&cfg, "seed", "%llu", p.seed);
  snprintf(path, sizeof path, "%s/config.txt", dir);
  int rc = nc_config_write(&cfg, path);
  nc_config_free(&cfg);
  if (rc) return fail(path);

  nc_linear m;
  nc_monitor mon;
  nc_linear_scalars sc;
  nc_metrics *log = NULL;
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  if (nc_linear_init(&m, &p) || nc_monitor_init(&mon, D) || nc_metrics_open(&log, path, 0))
    return fail("init");
  double *X1 = malloc(sizeof(double) * p.batch * D), *X2 = malloc(sizeof(double) * p.batch * D);
  for (long s = 1; s <= steps && !rc; s++) {
    double t0 = nc_now_seconds();
    rc = nc_linear_step(&m);
    double dt = nc_now_seconds() - t0;
    int epoch = (int)((s - 1) / STEPS_PER_EPOCH) + 1;
    nc_linear_sample_views(&m, (int)p.batch, X1, X2);
    double loss = nc_linear_batch_loss(&m, m.W, m.Wp, m.Wa, (int)p.batch, X1, X2, NULL, NULL);
    if (!rc) rc = nc_metrics_step(log, s, epoch, loss, p.dt, p.batch / (dt > 1e-9 ? dt : 1e-9), 0);
    if (!rc && (s % EVERY == 0 || s == steps)) {
      rc = nc_linear_observe(&m, &mon, &sc);
      double trace = 0;
      for (int j = 0; j < D; j++) trace += mon.f_eigvals[j];
      double feature_std = sqrt(fmax(trace, 0) / D);
      int collapsed = mon.effective_rank < 2 || feature_std < 1e-3;
      if (!rc)
        rc = nc_metrics_monitor(log, s, epoch, &mon, p.predictor != NC_PRED_IDENTITY, feature_std,
                                collapsed);
      if (!rc && (s % STEPS_PER_EPOCH == 0 || s == steps)) {
        double use = 1 - exp(-mon.effective_rank / 3.0); /* stand-in, see the top comment */
        double curve[2] = {0.34 + 0.5 * use, 0.35 + 0.5 * use}, losses[2] = {1.2, 1.1};
        nc_probe_result probe = {2, curve[1], curve[1], 2, curve, losses};
        rc = nc_metrics_eval(log, s, epoch, &probe, 0.30 + 0.48 * use);
      }
    }
  }
  free(X1);
  free(X2);
  nc_metrics_close(log);
  nc_monitor_free(&mon);
  nc_linear_free(&m);
  if (rc) return fail("training");
  return 0;
}
