/* The paper's deep-network experiments as data (digest §7), the scales, and the verdicts. */
#include "ncssl/experiments.h"

#include <math.h>
#include <string.h>

#define R(i) (1u << (i))

/* Option fragments of the paper's settings (§8.1: SGD lr 0.03, momentum 0.9, wd 4e-4 on both,
 * EMA 0.996, linear 128×128 predictor without bias unless said; these are `ncssl train`'s
 * defaults except the predictor, which every row names). "No EMA" is τ = 0: the target is the
 * online network's copy at each step, as the official code's m = 0. */
#define LIN "--predictor linear"
#define MLP "--predictor mlp"
#define NOEMA " --ema 0"
#define BIAS " --pred-bias"
#define SYM " --symmetric"
#define WDP " --wd 0 --wd-predictor 4e-4"
#define NOWD " --wd 0 --wd-predictor 0"

static const nc_experiment experiments[] = {
    {"table1",
     "Table 1: the least-squares 'optimal' W_p plugged in every N minibatches",
     "STL-10, 100 epochs, 5 seeds; ridge not given in the paper (ours: 0.01 s_max)",
     {{"optimal, N=1, EMA", "--predictor optimal --freq 1", "40.67±0.50"},
      {"optimal, N=2, EMA", "--predictor optimal --freq 2", "35.29±2.49"},
      {"optimal, N=3, EMA", "--predictor optimal --freq 3", "34.60±0.98"},
      {"optimal, N=5, EMA", "--predictor optimal --freq 5", "35.63±2.66"},
      {"optimal, N=1, no EMA", "--predictor optimal --freq 1" NOEMA, "39.45±1.26"},
      {"optimal, N=2, no EMA", "--predictor optimal --freq 2" NOEMA, "34.01±1.54"},
      {"optimal, N=3, no EMA", "--predictor optimal --freq 3" NOEMA, "34.58±2.93"},
      {"optimal, N=5, no EMA", "--predictor optimal --freq 5" NOEMA, "32.22±2.94"},
      {"trained linear W_p, EMA", LIN, "74-75"}},
     9,
     {{"the plugged-in optimal W_p is far (> 10 points) below the trained one", NC_CLAIM_BELOW,
       NC_METRIC_PROBE, 0xff, R(8), 10}},
     1},
    {"table2",
     "Table 2: no weight decay (eta = 0) against the baseline with 4e-4",
     "STL-10, 100 epochs, 5 seeds",
     {{"no wd, EMA, no bias", LIN NOWD, "70.62±1.05"},
      {"no wd, EMA, bias", LIN NOWD BIAS, "70.99±1.01"},
      {"no wd, no EMA, no bias", LIN NOWD NOEMA, "71.36±0.44"},
      {"no wd, no EMA, bias", LIN NOWD NOEMA BIAS, "71.37±0.77"},
      {"wd 4e-4, EMA, no bias (baseline)", LIN, "74.51±0.47"}},
     5,
     {{"every no-weight-decay row is below the baseline", NC_CLAIM_BELOW, NC_METRIC_PROBE, 0xf,
       R(4), 0}},
     1},
    {"table3-1layer",
     "Table 3, one-layer linear predictor: symmetric vs regular W_p",
     "STL-10, 100 epochs, 5 seeds, wd 4e-4, alpha_p 1",
     {{"sym, EMA, no bias", LIN SYM, "75.09±0.48"},
      {"regular, EMA, no bias", LIN, "74.51±0.47"},
      {"sym, EMA, bias", LIN SYM BIAS, "74.52±0.29"},
      {"regular, EMA, bias", LIN BIAS, "74.16±0.33"},
      {"sym, no EMA, no bias", LIN SYM NOEMA, "36.62±1.85"},
      {"regular, no EMA, no bias", LIN NOEMA, "72.85±0.16"},
      {"sym, no EMA, bias", LIN SYM NOEMA BIAS, "36.04±2.74"},
      {"regular, no EMA, bias", LIN NOEMA BIAS, "72.13±0.53"}},
     8,
     {{"without EMA the symmetric W_p collapses: > 10 points below the regular one", NC_CLAIM_BELOW,
       NC_METRIC_PROBE, R(4) | R(6), R(5) | R(7), 10},
      {"with EMA the symmetric W_p works: not more than 3 points below the regular one",
       NC_CLAIM_NOT_BELOW, NC_METRIC_PROBE, R(0) | R(2), R(1) | R(3), 3}},
     2},
    {"table3-2layer",
     "Table 3, two-layer predictor (BN + ReLU): symmetric vs regular",
     "STL-10, 100 epochs, 5 seeds; the 'bias' columns (our two-layer predictor's linear layers "
     "always have biases, so the paper's no-bias columns are not run); symmetric: w0 = w1^T = "
     "(w0 + w1^T)/2 after each step",
     {{"sym, EMA", MLP SYM, "77.64±0.41"},
      {"regular, EMA", MLP, "78.53±0.34"},
      {"sym, no EMA", MLP SYM NOEMA, "41.92±4.25"},
      {"regular, no EMA", MLP NOEMA, "65.59±0.66"}},
     4,
     {{"without EMA the symmetric two-layer predictor collapses: > 10 points below regular",
       NC_CLAIM_BELOW, NC_METRIC_PROBE, R(2), R(3), 10}},
     1},
    {"table5",
     "Table 5: weight decay on the predictor only, and none anywhere",
     "STL-10, 100 epochs, 5 seeds",
     {{"wd predictor only, sym, EMA, no bias", LIN WDP SYM, "71.91±0.70"},
      {"wd predictor only, regular, EMA, no bias", LIN WDP, "70.54±0.93"},
      {"wd predictor only, sym, EMA, bias", LIN WDP SYM BIAS, "73.67±0.47"},
      {"wd predictor only, regular, EMA, bias", LIN WDP BIAS, "70.89±0.98"},
      {"wd predictor only, sym, no EMA, no bias", LIN WDP SYM NOEMA, "71.12±0.71"},
      {"wd predictor only, regular, no EMA, no bias", LIN WDP NOEMA, "71.34±0.63"},
      {"wd predictor only, sym, no EMA, bias", LIN WDP SYM NOEMA BIAS, "73.01±0.37"},
      {"wd predictor only, regular, no EMA, bias", LIN WDP NOEMA BIAS, "71.70±0.83"},
      {"no wd, sym, EMA, no bias", LIN NOWD SYM, "71.76±0.28"},
      {"no wd, regular, EMA, no bias", LIN NOWD, "70.62±1.05"},
      {"no wd, sym, EMA, bias", LIN NOWD SYM BIAS, "71.86±0.39"},
      {"no wd, regular, EMA, bias", LIN NOWD BIAS, "70.99±1.01"},
      {"no wd, sym, no EMA, no bias", LIN NOWD SYM NOEMA, "43.04±2.32"},
      {"no wd, regular, no EMA, no bias", LIN NOWD NOEMA, "71.36±0.44"},
      {"no wd, sym, no EMA, bias", LIN NOWD SYM NOEMA BIAS, "41.36±3.33"},
      {"no wd, regular, no EMA, bias", LIN NOWD NOEMA BIAS, "71.37±0.77"}},
     16,
     {{"no wd anywhere, no EMA: the symmetric W_p collapses (> 10 points below regular)",
       NC_CLAIM_BELOW, NC_METRIC_PROBE, R(12) | R(14), R(13) | R(15), 10},
      {"wd on the predictor only lets the symmetric W_p work without EMA (within 3 points)",
       NC_CLAIM_NOT_BELOW, NC_METRIC_PROBE, R(4) | R(6), R(5) | R(7), 3}},
     2},
    {"fig6",
     "Fig. 6: alpha_p > 1 lets a symmetric W_p work without EMA",
     "STL-10 and CIFAR-10, 100 epochs, 5 seeds; the numbers are only in the figure",
     {{"sym, no EMA, alpha_p=1", LIN SYM NOEMA, ""},
      {"sym, no EMA, alpha_p=2", LIN SYM NOEMA " --alpha-p 2", ""},
      {"sym, no EMA, alpha_p=5", LIN SYM NOEMA " --alpha-p 5", ""},
      {"sym, no EMA, alpha_p=10", LIN SYM NOEMA " --alpha-p 10", ""}},
     4,
     {{"every alpha_p > 1 is more than 10 points above alpha_p = 1", NC_CLAIM_BELOW,
       NC_METRIC_PROBE, R(0), R(1) | R(2) | R(3), 10}},
     1},
    {"table6",
     "Table 6: DirectPred, epsilon and rho, against the trained linear predictor",
     "STL-10, 100 epochs, 5 seeds, EMA, no bias, freq 1",
     {{"DirectPred rho=0.3 eps=0", "--predictor directpred --eps 0", "76.77±0.24"},
      {"DirectPred rho=0.3 eps=0.01", "--predictor directpred --eps 0.01", "77.11±0.35"},
      {"DirectPred rho=0.3 eps=0.1", "--predictor directpred", "77.86±0.16"},
      {"DirectPred rho=0.3 eps=0.5", "--predictor directpred --eps 0.5", "75.06±1.10"},
      {"DirectPred rho=0.5 eps=0", "--predictor directpred --rho 0.5 --eps 0", "76.65±0.20"},
      {"DirectPred rho=0.5 eps=0.01", "--predictor directpred --rho 0.5 --eps 0.01", "76.76±0.33"},
      {"DirectPred rho=0.5 eps=0.1", "--predictor directpred --rho 0.5", "77.56±0.25"},
      {"DirectPred rho=0.5 eps=0.5", "--predictor directpred --rho 0.5 --eps 0.5", "75.22±0.81"},
      {"trained linear W_p (SGD baseline)", LIN, "74.51±0.47"}},
     9,
     {{"DirectPred (eps 0.1, both rho) is not below the trained linear predictor (1 point)",
       NC_CLAIM_NOT_BELOW, NC_METRIC_PROBE, R(2) | R(6), R(8), 1}},
     1},
    {"table7",
     "Table 7: DirectPred with an offset, p_j = sqrt(max(s_j/s_max - c, 1e-4))",
     "STL-10, 100 epochs, 5 seeds, rho 0.3, EMA, no bias",
     {{"c=0.1, freq 1", "--predictor directpred --dp-offset 0.1", "46.57±18.43"},
      {"c=0.05, freq 1", "--predictor directpred --dp-offset 0.05", "65.31±18.22"},
      {"c=-0.05, freq 1", "--predictor directpred --dp-offset -0.05", "77.11±0.66"},
      {"c=-0.1, freq 1", "--predictor directpred --dp-offset -0.1", "76.46±0.55"},
      {"c=0.1, freq 2", "--predictor directpred --dp-offset 0.1 --freq 2", "75.01±0.48"},
      {"c=0.05, freq 2", "--predictor directpred --dp-offset 0.05 --freq 2", "75.10±0.35"},
      {"c=-0.05, freq 2", "--predictor directpred --dp-offset -0.05 --freq 2", "76.83±0.52"},
      {"c=-0.1, freq 2", "--predictor directpred --dp-offset -0.1 --freq 2", "76.31±0.27"}},
     8,
     {{"at freq 1 a positive offset c = 0.1 is more than 5 points below the negative ones",
       NC_CLAIM_BELOW, NC_METRIC_PROBE, R(0), R(2) | R(3), 5}},
     1},
    {"table8",
     "Table 8: DirectPred and DirectPred (freq 5) against the SGD baseline",
     "STL-10 100 epochs (also 300, 500; CIFAR-10), rho 0.3, eps 0.1, EMA, 5 seeds",
     {{"DirectPred", "--predictor directpred", "77.86±0.16"},
      {"DirectPred (freq=5)", "--predictor directpred --freq 5", "77.54±0.11"},
      {"SGD baseline (trained linear W_p)", LIN, "75.06±0.52"}},
     3,
     {{"DirectPred (both freq) is not below the SGD baseline (1 point)", NC_CLAIM_NOT_BELOW,
       NC_METRIC_PROBE, R(0) | R(1), R(2), 1}},
     1},
    {"directpred-vs",
     "DirectPred vs the trained linear and the two-layer predictor (Tables 8-9's comparison)",
     "ImageNet 60 ep (Table 9): 2-layer 64.7, linear 59.4, DirectPred 64.4",
     {{"DirectPred", "--predictor directpred", "64.4 (ImageNet 60 ep)"},
      {"trained linear W_p", LIN, "59.4 (ImageNet 60 ep)"},
      {"two-layer predictor", MLP, "64.7 (ImageNet 60 ep)"}},
     3,
     {{"DirectPred is not below the trained linear predictor (1 point)", NC_CLAIM_NOT_BELOW,
       NC_METRIC_PROBE, R(0), R(1), 1},
      {"DirectPred is within 1 point of the two-layer predictor", NC_CLAIM_NOT_BELOW,
       NC_METRIC_PROBE, R(0), R(2), 1}},
     2},
    {"fig2",
     "Fig. 2: W_p's eigenvectors align with F's and W_p becomes symmetric over training",
     "STL-10, 100 epochs, EMA; curves only (no numbers printed)",
     {{"regular W_p, EMA", LIN, ""}, {"sym W_p, EMA", LIN SYM, ""}},
     2,
     {{"regular W_p: alignment with F's top eigenvector rises (> 0.1)", NC_CLAIM_RISES,
       NC_METRIC_ALIGNMENT, R(0), 0, 0.1},
      {"regular W_p: asymmetry |W_p - W_p^T|/|W_p| falls (> 0.1)", NC_CLAIM_FALLS,
       NC_METRIC_ASYMMETRY, R(0), 0, 0.1},
      {"sym W_p: alignment with F's top eigenvector rises (> 0.1)", NC_CLAIM_RISES,
       NC_METRIC_ALIGNMENT, R(1), 0, 0.1}},
     3},
};

static const nc_exp_scale scales[] = {
    {"quick", "CI smoke test: every row 4 steps of a width-4 network on 256 images, 1 seed",
     "--data fashion-mnist --width 4 --proj-hidden 32 --proj-out 16 --batch 32 --subset 256 "
     "--epochs 1 --max-steps 4 --monitor-every 2",
     1, 500, 200, 2, 20, 10.0, 1.0},
    {"small", "Fashion-MNIST, ResNet-18 width 8, 60000 images x 1 epoch (468 steps), 1 seed",
     "--data fashion-mnist --width 8 --batch 128 --epochs 1 --monitor-every 52", 1,
     10000, 2000, 20, 200, 1.0, 0.02},
    {"paper", "the paper's: STL-10 (96x96, ImageNet stem), ResNet-18, 100 epochs, 5 seeds",
     "--data stl10 --stem imagenet --width 64 --batch 128 --epochs 100 --monitor-every 2000", 5, 0,
     0, 50, 200, 0.5, 0.02},
};

const nc_experiment *nc_experiments(int *n) {
  *n = (int)(sizeof experiments / sizeof experiments[0]);
  return experiments;
}

const nc_exp_scale *nc_exp_scale_get(const char *name) {
  for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
    if (strcmp(scales[i].name, name) == 0) return &scales[i];
  return NULL;
}

int nc_exp_mean_std(const double *x, int n, double *mean, double *std) {
  int k = 0;
  double s = 0, ss = 0;
  for (int i = 0; i < n; i++)
    if (!isnan(x[i])) s += x[i], k++;
  *mean = k ? s / k : NAN;
  for (int i = 0; i < n; i++)
    if (!isnan(x[i])) ss += (x[i] - *mean) * (x[i] - *mean);
  *std = k > 1 ? sqrt(ss / (k - 1)) : 0.0;
  return k;
}

const char *nc_verdict_name(nc_verdict v) {
  return v == NC_VERDICT_REPRODUCED       ? "reproduced"
         : v == NC_VERDICT_NOT_REPRODUCED ? "not reproduced"
                                          : "undecided";
}

/* The squared standard error of a row's mean with the noise floor: a single seed says nothing
 * about the spread, so the floor stands in for it. */
static double var_of_mean(double std, int n, double floor) {
  double s = fmax(std, floor);
  return s * s / (n > 0 ? n : 1);
}

nc_claim_result nc_claim_decide(const nc_exp_claim *c, const nc_exp_measure *m, int nrows,
                                const nc_exp_scale *sc) {
  nc_claim_result r = {NC_VERDICT_UNDECIDED, NAN, NAN, 0};
  const double floor = c->metric == NC_METRIC_PROBE ? sc->noise : sc->noise_monitor;
  if (c->kind == NC_CLAIM_RISES || c->kind == NC_CLAIM_FALLS) {
    int i = 0;
    while (i < nrows && !(c->a & (1u << i))) i++;
    if (i == nrows || m[i].n == 0 || isnan(m[i].first) || isnan(m[i].last)) {
      r.missing = 1;
      return r;
    }
    double change = m[i].last - m[i].first;
    r.diff = (c->kind == NC_CLAIM_RISES ? change : -change) - c->margin;
    r.se = sqrt(var_of_mean(m[i].dstd, m[i].n, floor));
  } else {
    /* BELOW: max over a < min over b − margin; NOT_BELOW: min over a ≥ max over b − margin.
     * The standard error is that of the pair that decides it. */
    int ia = -1, ib = -1;
    for (int i = 0; i < nrows; i++) {
      int in_a = (c->a >> i) & 1, in_b = (c->b >> i) & 1;
      if (!in_a && !in_b) continue;
      if (m[i].n == 0 || isnan(m[i].mean)) {
        r.missing++;
        continue;
      }
      int a_worst = c->kind == NC_CLAIM_BELOW ? (ia < 0 || m[i].mean > m[ia].mean)
                                              : (ia < 0 || m[i].mean < m[ia].mean);
      int b_worst = c->kind == NC_CLAIM_BELOW ? (ib < 0 || m[i].mean < m[ib].mean)
                                              : (ib < 0 || m[i].mean > m[ib].mean);
      if (in_a && a_worst) ia = i;
      if (in_b && b_worst) ib = i;
    }
    if (r.missing || ia < 0 || ib < 0) return r;
    r.diff = c->kind == NC_CLAIM_BELOW ? (m[ib].mean - c->margin) - m[ia].mean
                                       : m[ia].mean - (m[ib].mean - c->margin);
    r.se = sqrt(var_of_mean(m[ia].std, m[ia].n, floor) + var_of_mean(m[ib].std, m[ib].n, floor));
  }
  r.verdict = r.diff > 2 * r.se    ? NC_VERDICT_REPRODUCED
              : r.diff < -2 * r.se ? NC_VERDICT_NOT_REPRODUCED
                                   : NC_VERDICT_UNDECIDED;
  return r;
}
