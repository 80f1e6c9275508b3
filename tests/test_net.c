// ctest-labels: unit gradcheck
/* Whole networks: finite-difference gradients of a tiny ResNet-18 (width 4, 8×8, 2 images) with
 * respect to the input and every parameter tensor, the MLP and linear heads, slots, forward-only
 * networks, names, init statistics and determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/nn/net_internal.h"
#include "gradcheck.h"
#include "ncssl/linalg.h"
#include "ncssl/net.h"
#include "ncssl/status.h"
#include "testing.h"

static nc_rng rng;
static nc_net *g_net;
static float *g_x, *g_y;
static int g_n;
static void net_fwd(void *ctx) {
  (void)ctx;
  nc_net_forward(g_net, 0, g_n, g_x, g_y);
}

/* Checks ∂(Σ r·y)/∂(input and every parameter) of net on n random samples with step h, at most
 * `entries` entries per tensor, skipping entries whose step crosses a ReLU kink (second difference
 * above kink_tol of the tensor's gradient scale; at most the fraction max_skip may be skipped).
 * Gradients that vanish in exact arithmetic (biases before batch norm) are compared against 1% of
 * the overall gradient scale. Returns the worst per-tensor relative error and sets *pooled to their
 * root mean square weighted by entries checked. */
static double gradcheck_net(nc_net *net, int n, float h, size_t entries, double kink_tol,
                            double max_skip, double *pooled) {
  size_t nx = nc_net_in_size(net) * n, ny = (size_t)nc_net_out_dim(net) * n;
  float *x = malloc(nx * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4), *dx = malloc(nx * 4);
  double *r = malloc(ny * sizeof *r);
  for (size_t i = 0; i < nx; i++) x[i] = (float)nc_rng_normal(&rng);
  for (size_t i = 0; i < ny; i++) r[i] = nc_rng_normal(&rng), dy[i] = (float)r[i];
  g_net = net, g_x = x, g_y = y, g_n = n;
  nc_param_list *l = nc_net_params(net);
  nc_params_zero_grad(l);
  CHECK(nc_net_forward(net, 0, n, x, y) == NC_OK);
  CHECK(nc_net_backward(net, 0, dy, dx) == NC_OK);
  double ss = 0;
  size_t count = 0;
  for (int i = 0; i < l->n; i++)
    for (size_t k = 0; !l->items[i].is_buffer && k < l->items[i].n; k++)
      ss += (double)l->items[i].g[k] * l->items[i].g[k], count++;
  double G = sqrt(ss / count), worst = 0, sum2 = 0;
  gc_problem p = {net_fwd, y, ny, r};
  size_t checked, skipped, all_checked = 0, all_skipped = 0;
  for (int i = -1; i < l->n; i++) {
    nc_param *q = i >= 0 ? &l->items[i] : NULL;
    if (q && q->is_buffer) continue;
    float *w = q ? q->w : x, *g = q ? q->g : dx;
    double e =
        gc_check_kinks(&p, w, g, q ? q->n : nx, h, entries, kink_tol, 1e-2 * G, &checked, &skipped);
    if (e > 0.05) fprintf(stderr, "%s: rel err %g\n", q ? q->name : "input", e);
    worst = fmax(worst, e);
    sum2 += e * e * checked;
    all_checked += checked, all_skipped += skipped;
  }
  *pooled = sqrt(sum2 / all_checked);
  CHECK(all_skipped <= max_skip * (all_checked + all_skipped));
  fprintf(stderr, "gradcheck: %zu entries checked, %zu skipped at kinks, worst %.3g, pooled %.3g\n",
          all_checked, all_skipped, worst, *pooled);
  free(x), free(y), free(dy), free(dx), free(r);
  return worst;
}

/* Eval mode with running statistics away from 0 / 1: means 0.2·N(0, 1), variances
 * U(var_min, var_min + 1). */
static void set_running_stats(nc_net *net, float var_min) {
  nc_param_list *l = nc_net_params(net);
  for (int i = 0; i < l->n; i++)
    for (size_t k = 0; l->items[i].is_buffer && k < l->items[i].n; k++)
      l->items[i].w[k] = strstr(l->items[i].name, "var") ? var_min + (float)nc_rng_uniform(&rng)
                                                         : 0.2f * (float)nc_rng_normal(&rng);
  nc_net_set_train(net, 0);
}

/* The tiny ResNet of the issue (width 4, 8×8, 2 images) in eval mode with nontrivial running
 * statistics, where the network is piecewise linear and float differences are clean; and in
 * training mode on 16×16 × 4 images (at 8×8 × 2 the last BN normalises 2 values per channel and
 * its gradient, ~1/√eps, is beyond float differences; the golden test covers that regime). The
 * bounds are set by float rounding (~1e-7 of the loss over a step of 1e-3); a wrong sign, a missed
 * accumulation or a transposed weight gives errors of order 1. */
static void test_tiny_resnet(void) {
  nc_resnet_cfg cfg = {18, NC_STEM_CIFAR, 3, 4};
  nc_net *net;
  CHECK(nc_resnet_build(&net, &cfg, 8, 8, 2, 1, 1, NULL) == NC_OK);
  nc_net_init(net, &rng);
  nc_param_list *l = nc_net_params(net);
  CHECK(strcmp(l->items[0].name, "conv1.weight") == 0);
  CHECK(nc_params_find(l, "layer1.0.bn2.running_var") != NULL);
  CHECK(nc_params_find(l, "layer2.0.downsample.0.weight") != NULL);
  CHECK(nc_params_find(l, "layer2.0.downsample.1.bias") != NULL);
  CHECK(nc_params_find(l, "layer1.0.downsample.0.weight") == NULL);
  CHECK(nc_params_find(l, "layer4.1.conv2.weight")->shape[0] == 32);
  CHECK(nc_net_out_dim(net) == 32);
  /* trainable parameter count of torchvision's resnet18 without fc, scaled to width 4 */
  size_t want = 4 * 3 * 9 + 2 * 4;
  for (int L = 0; L < 4; L++) {
    size_t planes = (size_t)4 << L, cin = L ? planes / 2 : 4;
    want += planes * cin * 9 + planes * planes * 9 + 4 * planes;
    if (L) want += planes * cin + 2 * planes;
    want += 2 * planes * planes * 9 + 4 * planes;
  }
  CHECK(nc_params_count(l) == want);
  set_running_stats(net, 0.5f);
  double pooled, worst = gradcheck_net(net, 2, 1e-3f, 12, 1e-2, 0.25, &pooled);
  CHECK(worst < 5e-2);
  CHECK(pooled < 1e-2);
  nc_net_free(net);
  /* ResNet-50 (bottlenecks) with the ImageNet stem (7×7/2 conv, max-pool), one input channel */
  nc_resnet_cfg c50 = {50, NC_STEM_IMAGENET, 1, 2};
  CHECK(nc_resnet_build(&net, &c50, 32, 32, 2, 1, 1, NULL) == NC_OK);
  nc_net_init(net, &rng);
  set_running_stats(net, 2.0f);
  worst = gradcheck_net(net, 2, 1e-3f, 6, 1e-2, 0.45, &pooled);
  CHECK(worst < 0.3);
  CHECK(pooled < 2.5e-2);
  nc_net_free(net);
  CHECK(nc_resnet_build(&net, &cfg, 16, 16, 4, 1, 1, NULL) == NC_OK);
  nc_net_init(net, &rng);
  worst = gradcheck_net(net, 4, 3e-4f, 12, 3e-2, 0.25, &pooled);
  CHECK(worst < 0.5);
  CHECK(pooled < 4e-2);
  nc_net_free(net);
}

static void test_heads(void) {
  nc_net *mlp, *lin;
  CHECK(nc_mlp_build(&mlp, 6, 10, 4, 1, 5, 1, 1, "projector") == NC_OK);
  nc_net_init(mlp, &rng);
  nc_param_list *l = nc_net_params(mlp);
  const char *names[] = {"projector.net.0.weight",       "projector.net.0.bias",
                         "projector.net.1.weight",       "projector.net.1.bias",
                         "projector.net.1.running_mean", "projector.net.1.running_var",
                         "projector.net.3.weight",       "projector.net.3.bias"};
  CHECK(l->n == 8);
  for (int i = 0; i < 8 && i < l->n; i++) CHECK(strcmp(l->items[i].name, names[i]) == 0);
  /* perturb BN affine away from 1/0 so its gradients are generic */
  for (int k = 0; k < 10; k++) l->items[2].w[k] += 0.3f * (float)nc_rng_normal(&rng);
  double pooled, e = gradcheck_net(mlp, 5, 3e-3f, 0, 1e-2, 0.25, &pooled);
  CHECK(e < 5e-3);
  nc_net_free(mlp);
  CHECK(nc_mlp_build(&mlp, 6, 10, 4, 0, 5, 1, 1, NULL) == NC_OK);
  CHECK(nc_net_params(mlp)->n == 6); /* no affine BN */
  nc_net_init(mlp, &rng);
  CHECK(gradcheck_net(mlp, 5, 3e-3f, 0, 1e-2, 0.25, &pooled) < 5e-3);
  nc_net_free(mlp);
  CHECK(nc_linear_net_build(&lin, 4, 4, 0, 3, 1, 1, NULL) == NC_OK);
  CHECK(nc_net_params(lin)->n == 1 && strcmp(nc_net_params(lin)->items[0].name, "weight") == 0);
  nc_net_init(lin, &rng);
  /* kaiming_uniform(a=√5): |w| ≤ 1/√fan_in */
  for (int k = 0; k < 16; k++) CHECK(fabsf(nc_net_params(lin)->items[0].w[k]) <= 0.5f);
  CHECK(gradcheck_net(lin, 3, 1e-2f, 0, 1e-2, 0.25, &pooled) < 1e-4);
  nc_net_free(lin);
}

/* Two slots give each view its own cache: backward of both equals the sum of separate runs; a
 * forward-only copy computes the same output; the same seed gives the same bytes. */
static void test_slots_and_copies(void) {
  nc_resnet_cfg cfg = {18, NC_STEM_IMAGENET, 1, 4};
  nc_net *a, *b, *t;
  CHECK(nc_resnet_build(&a, &cfg, 32, 32, 3, 2, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&b, &cfg, 32, 32, 3, 1, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&t, &cfg, 32, 32, 3, 1, 0, "target") == NC_OK);
  CHECK(nc_net_slots(t) == 1 && nc_net_bytes(t) < nc_net_bytes(b));
  nc_rng r1 = nc_rng_split(&rng, 1), r2 = r1;
  nc_net_init(a, &r1);
  nc_net_init(b, &r2);
  float *wa, *ga, *wb, *gb;
  size_t na, nb;
  nc_net_flat(a, &wa, &ga, &na);
  nc_net_flat(b, &wb, &gb, &nb);
  CHECK(na == nb && memcmp(wa, wb, na * 4) == 0);
  CHECK(nc_net_copy_params(t, a) == NC_OK);
  enum { N = 3, IN = 32 * 32, OUT = 32 };
  float x1[N * IN], x2[N * IN], y1[N * OUT], y2[N * OUT], yb[N * OUT], yt[N * OUT], dy[N * OUT];
  for (int i = 0; i < N * IN; i++)
    x1[i] = (float)nc_rng_normal(&rng), x2[i] = (float)nc_rng_normal(&rng);
  for (int i = 0; i < N * OUT; i++) dy[i] = (float)nc_rng_normal(&rng);
  nc_params_zero_grad(nc_net_params(a));
  nc_params_zero_grad(nc_net_params(b));
  CHECK(nc_net_forward(a, 0, N, x1, y1) == NC_OK);
  CHECK(nc_net_forward(a, 1, N, x2, y2) == NC_OK);
  CHECK(nc_net_forward(t, 0, N, x2, yt) == NC_OK);
  CHECK(nc_net_backward(a, 0, dy, NULL) == NC_OK);
  CHECK(nc_net_backward(a, 1, dy, NULL) == NC_OK);
  CHECK(nc_net_forward(b, 0, N, x1, yb) == NC_OK);
  CHECK(memcmp(yb, y1, sizeof yb) == 0);
  CHECK(nc_net_backward(b, 0, dy, NULL) == NC_OK);
  CHECK(nc_net_forward(b, 0, N, x2, yb) == NC_OK);
  CHECK(memcmp(yb, y2, sizeof yb) == 0);
  CHECK(memcmp(yt, y2, sizeof yb) == 0);
  CHECK(nc_net_backward(b, 0, dy, NULL) == NC_OK);
  CHECK(memcmp(ga, gb, na * 4) == 0);
  CHECK(nc_net_backward(t, 0, dy, NULL) == NC_EINVAL);
  /* eval mode uses the running statistics: outputs no longer depend on the batch's others */
  nc_net_set_train(b, 0);
  float one[OUT];
  CHECK(nc_net_forward(b, 0, N, x1, yb) == NC_OK);
  CHECK(nc_net_forward(b, 0, 1, x1, one) == NC_OK);
  double d = 0;
  for (int k = 0; k < OUT; k++) d = fmax(d, fabs(one[k] - yb[k]));
  CHECK(d < 1e-5);
  CHECK(nc_net_flops(b, 2) == 2 * nc_net_flops(b, 1));
  nc_net_free(a), nc_net_free(b), nc_net_free(t);
}

/* A target network borrowing its lender's scratch and slot memory: almost none of its own memory,
 * outputs bit for bit those of a target with its own memory, run before the lender's forward
 * without changing the lender's gradients, and again after the backward. */
static void test_borrowing(void) {
  nc_resnet_cfg cfg = {18, NC_STEM_CIFAR, 3, 4};
  enum { N = 4, S = 16, IN = 3 * S * S, OUT = 32 };
  nc_net *a, *b, *t, *tb, *none;
  CHECK(nc_resnet_build(&a, &cfg, S, S, N, 2, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&b, &cfg, S, S, N, 1, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&t, &cfg, S, S, N, 1, 0, "target") == NC_OK);
  CHECK(nc_resnet_build_borrowing(NULL, &tb, &cfg, S, S, N, a, "target") == NC_OK);
  CHECK(nc_net_slots(tb) == 1);
  CHECK(nc_net_bytes(tb) * 2 < nc_net_bytes(t)); /* its parameters, little more */
  /* white box: the scratch is the lender's, every activation inside its slot region */
  CHECK(tb->scratch == a->scratch);
  const char *lo = (const char *)a->slot_region, *hi = lo + a->slot_region_bytes;
  int inside = 0;
  for (int i = 0; i < tb->nt; i++) {
    const char *p = (const char *)tb->t[i].act[0];
    inside += p >= lo && p + (size_t)N * tb->t[i].c * tb->t[i].h * tb->t[i].w * 4 <= hi;
  }
  CHECK(inside == tb->nt);
  CHECK(nc_resnet_build_borrowing(NULL, &none, &cfg, S, S, N, t, "target") == NC_EINVAL &&
        none == NULL);
  nc_rng r1 = nc_rng_split(&rng, 2), r2 = r1;
  nc_net_init(a, &r1);
  nc_net_init(b, &r2);
  CHECK(nc_net_copy_params(t, a) == NC_OK && nc_net_copy_params(tb, a) == NC_OK);
  static float x1[N * IN], x2[N * IN];
  float y[N * OUT], ya[N * OUT], yt[N * OUT], ytb[N * OUT], dy[N * OUT];
  for (int i = 0; i < N * IN; i++)
    x1[i] = (float)nc_rng_normal(&rng), x2[i] = (float)nc_rng_normal(&rng);
  for (int i = 0; i < N * OUT; i++) dy[i] = (float)nc_rng_normal(&rng);
  nc_params_zero_grad(nc_net_params(a));
  nc_params_zero_grad(nc_net_params(b));
  CHECK(nc_net_forward(t, 0, N, x2, yt) == NC_OK);
  CHECK(nc_net_forward(tb, 0, N, x2, ytb) == NC_OK);
  CHECK(memcmp(yt, ytb, sizeof yt) == 0);
  CHECK(nc_net_forward(a, 0, N, x1, y) == NC_OK);
  CHECK(nc_net_forward(a, 1, N, x2, ya) == NC_OK);
  CHECK(nc_net_backward(a, 0, dy, NULL) == NC_OK);
  CHECK(nc_net_backward(a, 1, dy, NULL) == NC_OK);
  /* the output stays readable after the backward */
  CHECK(memcmp(nc_net_output(a, 1), ya, sizeof ya) == 0);
  CHECK(nc_net_forward(b, 0, N, x1, y) == NC_OK && nc_net_backward(b, 0, dy, NULL) == NC_OK);
  CHECK(nc_net_forward(b, 0, N, x2, y) == NC_OK && nc_net_backward(b, 0, dy, NULL) == NC_OK);
  float *wa, *ga, *wb, *gb;
  size_t na, nb;
  nc_net_flat(a, &wa, &ga, &na);
  nc_net_flat(b, &wb, &gb, &nb);
  CHECK(na == nb && memcmp(ga, gb, na * 4) == 0); /* the borrower left the backward alone */
  CHECK(nc_net_forward(tb, 0, N, x2, ytb) == NC_OK);
  CHECK(memcmp(yt, ytb, sizeof yt) == 0);
  nc_net_free(tb), nc_net_free(t), nc_net_free(a), nc_net_free(b);
}

/* Gradients lie in activations their slot's backward has consumed: every first-stage map's
 * gradient (the largest) inside that slot's own activations, and apart from every activation the
 * backward still reads when the gradient is written. A backward uses its slot up. */
static void test_grads_in_slots(void) {
  nc_resnet_cfg cfg = {18, NC_STEM_CIFAR, 3, 4};
  enum { N = 3, S = 16, IN = 3 * S * S, OUT = 32 };
  nc_net *a;
  CHECK(nc_resnet_build(&a, &cfg, S, S, N, 2, 1, NULL) == NC_OK);
  CHECK(a->grads_in_slots);
  size_t slot_bytes = 0;
  for (int r = 0; r < a->nt; r++)
    if (a->t[r].root == r)
      slot_bytes += ((size_t)N * a->t[r].c * a->t[r].h * a->t[r].w * 4 + 63) / 64 * 64;
  int big = 0, hosted = 0;
  for (int r = 0; r < a->nt; r++) {
    if (a->t[r].root != r || a->t[r].c != cfg.width || r == a->input) continue;
    big++;
    int in_own = 1;
    for (int s = 0; s < 2; s++) {
      const char *lo = (const char *)a->t[a->input].act[s], *g = (const char *)a->t[r].grad[s];
      in_own &= g >= lo && g < lo + slot_bytes;
    }
    hosted += in_own;
  }
  CHECK(big >= 5 && hosted == big);
  /* Walking the backward independently of the planner: no gradient overlaps an activation read
   * at or after its first write, nor another gradient alive at the same time. */
  enum { MAXT = 128 };
  CHECK(a->nt <= MAXT);
  int gfirst[MAXT], glast[MAXT], alast[MAXT];
  for (int r = 0; r < a->nt; r++) gfirst[r] = a->nn + 1, glast[r] = alast[r] = -1;
  gfirst[a->t[a->output].root] = -1;   /* the caller's dy */
  alast[a->t[a->output].root] = a->nn; /* callers read the output after the backward */
  for (int i = a->nn - 1, step = 0; i >= 0; i--, step++) {
    const nc_node *nd = &a->nodes[i];
    int ids[3] = {nd->in, nd->in2, nd->out};
    for (int k = 0; k < 3; k++) {
      if (ids[k] < 0) continue;
      int r = a->t[ids[k]].root;
      if (step < gfirst[r]) gfirst[r] = step;
      glast[r] = step;
      if (alast[r] < step) alast[r] = step;
    }
  }
  int clashes = 0;
  for (int s = 0; s < 2; s++)
    for (int g = 0; g < a->nt; g++) {
      if (a->t[g].root != g || gfirst[g] > a->nn) continue;
      const char *g0 = (const char *)a->t[g].grad[s];
      const char *g1 = g0 + (size_t)N * a->t[g].c * a->t[g].h * a->t[g].w * 4;
      for (int q = 0; q < a->nt; q++) {
        if (a->t[q].root != q || q == g) continue;
        size_t qb = (size_t)N * a->t[q].c * a->t[q].h * a->t[q].w * 4;
        const char *q0 = (const char *)a->t[q].act[s], *h0 = (const char *)a->t[q].grad[s];
        if (g0 < q0 + qb && q0 < g1 && alast[q] >= gfirst[g]) clashes++;
        if (g0 < h0 + qb && h0 < g1 && glast[q] >= gfirst[g] && gfirst[q] <= glast[g]) clashes++;
      }
    }
  CHECK(clashes == 0);
  /* the same gradients as a network whose slots are filled one at a time */
  nc_net *b;
  CHECK(nc_resnet_build(&b, &cfg, S, S, N, 1, 1, NULL) == NC_OK);
  nc_rng r1 = nc_rng_split(&rng, 5), r2 = r1;
  nc_net_init(a, &r1);
  nc_net_init(b, &r2);
  static float x[2][N * IN], dx[2][N * IN], dxb[N * IN];
  float dy[2][N * OUT], y[N * OUT];
  for (int v = 0; v < 2; v++) {
    for (int i = 0; i < N * IN; i++) x[v][i] = (float)nc_rng_normal(&rng);
    for (int i = 0; i < N * OUT; i++) dy[v][i] = (float)nc_rng_normal(&rng);
  }
  nc_params_zero_grad(nc_net_params(a));
  nc_params_zero_grad(nc_net_params(b));
  CHECK(nc_net_forward(a, 0, N, x[0], y) == NC_OK && nc_net_forward(a, 1, N, x[1], y) == NC_OK);
  CHECK(nc_net_backward(a, 1, dy[1], dx[1]) == NC_OK &&
        nc_net_backward(a, 0, dy[0], dx[0]) == NC_OK);
  CHECK(nc_net_backward(a, 0, dy[0], dx[0]) == NC_EINVAL); /* used up */
  float *wa, *ga, *wb, *gb;
  size_t na, nb;
  nc_net_flat(a, &wa, &ga, &na);
  nc_net_flat(b, &wb, &gb, &nb);
  for (int v = 1; v >= 0; v--) {
    CHECK(nc_net_forward(b, 0, N, x[v], y) == NC_OK);
    CHECK(nc_net_backward(b, 0, dy[v], dxb) == NC_OK);
    CHECK(memcmp(dx[v], dxb, sizeof dxb) == 0);
  }
  CHECK(na == nb && memcmp(ga, gb, na * 4) == 0);
  nc_net_free(a), nc_net_free(b);
  /* a head whose hidden gradients would fit in its output: the output stays what it was */
  nc_net *m;
  enum { D = 8, H = 16 };
  CHECK(nc_mlp_build(&m, D, H, H, 1, N, 1, 1, NULL) == NC_OK);
  nc_net_init(m, &rng);
  float xm[N * D], ym[N * H], dym[N * H];
  for (int i = 0; i < N * D; i++) xm[i] = (float)nc_rng_normal(&rng);
  for (int i = 0; i < N * H; i++) dym[i] = (float)nc_rng_normal(&rng);
  CHECK(nc_net_forward(m, 0, N, xm, ym) == NC_OK && nc_net_backward(m, 0, dym, NULL) == NC_OK);
  CHECK(memcmp(nc_net_output(m, 0), ym, sizeof ym) == 0);
  nc_net_free(m);
}

/* ResNet-50 and ResNet-34 build with torchvision's shapes; kaiming fan_out std of conv weights. */
static void test_shapes_and_init(void) {
  nc_resnet_cfg c50 = {50, NC_STEM_IMAGENET, 3, 8}, c34 = {34, NC_STEM_CIFAR, 3, 4};
  nc_net *n50, *n34;
  CHECK(nc_resnet_build(&n50, &c50, 32, 32, 2, 1, 0, NULL) == NC_OK);
  CHECK(nc_resnet_build(&n34, &c34, 8, 8, 2, 1, 0, NULL) == NC_OK);
  CHECK(nc_net_out_dim(n50) == 32 * 8 && nc_net_out_dim(n34) == 32);
  nc_param_list *l = nc_net_params(n50);
  CHECK(nc_params_find(l, "layer4.2.conv3.weight") != NULL);
  CHECK(nc_params_find(l, "layer1.0.downsample.0.weight")->shape[0] == 32);
  CHECK(nc_params_find(nc_net_params(n34), "layer3.5.bn2.weight") != NULL);
  CHECK(nc_params_find(nc_net_params(n34), "layer3.6.bn2.weight") == NULL);
  nc_net_init(n50, &rng);
  nc_param *w = nc_params_find(l, "layer3.0.conv2.weight"); /* 32×32×3×3: std √(2/288) */
  double ss = 0;
  for (size_t k = 0; k < w->n; k++) ss += (double)w->w[k] * w->w[k];
  CHECK_NEAR(sqrt(ss / w->n), sqrt(2.0 / 288), 0.05 * sqrt(2.0 / 288));
  float x[2 * 3 * 32 * 32], y[2 * 256];
  for (int i = 0; i < 2 * 3 * 32 * 32; i++) x[i] = (float)nc_rng_normal(&rng);
  CHECK(nc_net_forward(n50, 0, 2, x, y) == NC_OK);
  int finite = 1;
  for (int i = 0; i < 2 * 256; i++) finite &= isfinite(y[i]) && y[i] >= 0;
  CHECK(finite);
  nc_resnet_cfg bad = {20, NC_STEM_CIFAR, 3, 4};
  nc_net *none;
  CHECK(nc_resnet_build(&none, &bad, 8, 8, 2, 1, 1, NULL) == NC_EINVAL && none == NULL);
  nc_net_free(n50), nc_net_free(n34);
}

/* A network built for a larger batch computes the same on fewer samples (the last, partial batch
 * of an epoch) as one built for exactly that many. */
static void test_partial_batch(void) {
  nc_resnet_cfg cfg = {18, NC_STEM_CIFAR, 3, 4};
  nc_net *big, *exact;
  CHECK(nc_resnet_build(&big, &cfg, 8, 8, 5, 1, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&exact, &cfg, 8, 8, 3, 1, 1, NULL) == NC_OK);
  nc_rng r1 = nc_rng_split(&rng, 9), r2 = r1;
  nc_net_init(big, &r1);
  nc_net_init(exact, &r2);
  enum { N = 3, IN = 3 * 64, OUT = 32 };
  float x[N * IN], dy[N * OUT], y1[N * OUT], y2[N * OUT], dx1[N * IN], dx2[N * IN];
  for (int i = 0; i < N * IN; i++) x[i] = (float)nc_rng_normal(&rng);
  for (int i = 0; i < N * OUT; i++) dy[i] = (float)nc_rng_normal(&rng);
  nc_params_zero_grad(nc_net_params(big));
  nc_params_zero_grad(nc_net_params(exact));
  CHECK(nc_net_forward(big, 0, N, x, y1) == NC_OK && nc_net_forward(exact, 0, N, x, y2) == NC_OK);
  CHECK(memcmp(y1, y2, sizeof y1) == 0);
  CHECK(nc_net_backward(big, 0, dy, dx1) == NC_OK && nc_net_backward(exact, 0, dy, dx2) == NC_OK);
  CHECK(memcmp(dx1, dx2, sizeof dx1) == 0);
  float *w1, *g1, *w2, *g2;
  size_t n1, n2;
  nc_net_flat(big, &w1, &g1, &n1);
  nc_net_flat(exact, &w2, &g2, &n2);
  CHECK(n1 == n2 && memcmp(g1, g2, n1 * sizeof(float)) == 0);
  CHECK(nc_net_forward(big, 0, 6, x, y1) == NC_EINVAL); /* more than it was built for */
  nc_net_free(big), nc_net_free(exact);
}

static double rel_diff(const float *a, const float *b, size_t n) {
  double d = 0, m = 1e-30;
  for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i])), m = fmax(m, fabs(b[i]));
  return d / m;
}

/* Channel-blocked feature maps (the CPU default with oneDNN) against planar ones on the same
 * parameters and data: outputs, input and parameter gradients to float rounding, for the full
 * batch and a partial one (the plans remade for it), with the CIFAR stem and the ImageNet stem
 * (max pooling on blocked maps). */
static void test_layouts(void) {
  const int onednn = strcmp(nc_sgemm_backend(), "oneDNN") == 0;
  for (int stem = 0; stem <= 1; stem++) {
    nc_resnet_cfg cfg = {18, stem ? NC_STEM_IMAGENET : NC_STEM_CIFAR, 3, 16};
    const int hw = stem ? 64 : 12, B = 4, IN = 3 * hw * hw, OUT = 128;
    nc_net *blk, *flat;
    CHECK(nc_resnet_build(&blk, &cfg, hw, hw, B, 1, 1, NULL) == NC_OK);
    setenv("NCSSL_LAYOUT", "planar", 1);
    CHECK(nc_resnet_build(&flat, &cfg, hw, hw, B, 1, 1, NULL) == NC_OK);
    unsetenv("NCSSL_LAYOUT");
    int nb, np;
    nc_net_layout_count(blk, &nb, &np);
    CHECK(onednn ? nb > 0 && np == 0 : nb == 0);
    nc_net_layout_count(flat, &nb, &np);
    CHECK(nb == 0 && np > 0);
    nc_net_init(blk, &rng);
    CHECK(nc_net_copy_params(flat, blk) == NC_OK);
    float *x = malloc(B * IN * sizeof(float)), *dy = malloc(B * OUT * sizeof(float));
    float *y1 = malloc(B * OUT * 4), *y2 = malloc(B * OUT * 4), *dx1 = malloc(B * IN * 4),
          *dx2 = malloc(B * IN * 4);
    for (int i = 0; i < B * IN; i++) x[i] = (float)nc_rng_normal(&rng);
    for (int i = 0; i < B * OUT; i++) dy[i] = (float)nc_rng_normal(&rng);
    for (int n = B; n >= B - 1; n--) {
      nc_params_zero_grad(nc_net_params(blk));
      nc_params_zero_grad(nc_net_params(flat));
      CHECK(nc_net_forward(blk, 0, n, x, y1) == NC_OK && nc_net_forward(flat, 0, n, x, y2) == 0);
      CHECK(rel_diff(y1, y2, (size_t)n * OUT) < 1e-5);
      CHECK(nc_net_backward(blk, 0, dy, dx1) == NC_OK && nc_net_backward(flat, 0, dy, dx2) == 0);
      CHECK(rel_diff(dx1, dx2, (size_t)n * IN) < 1e-4);
      nc_param_list *l1 = nc_net_params(blk), *l2 = nc_net_params(flat);
      double worst = 0;
      for (int i = 0; i < l1->n; i++)
        if (l1->items[i].g)
          worst = fmax(worst, rel_diff(l1->items[i].g, l2->items[i].g, l1->items[i].n));
      CHECK(worst < 1e-4);
      if (worst >= 1e-4) fprintf(stderr, "layouts: parameter gradients differ by %g\n", worst);
    }
    /* a blocked convolution without a plan is an error, not a wrong result */
    if (onednn) {
      nc_node *conv = NULL;
      for (int i = 0; i < blk->nn && !conv; i++)
        if (blk->nodes[i].kind == OP_CONV && blk->t[blk->nodes[i].out].blocked)
          conv = &blk->nodes[i];
      nc_conv_plan *kept = conv->plan;
      conv->plan = NULL;
      CHECK(nc_net_forward(blk, 0, B, x, y1) == NC_ENOMEM);
      conv->plan = kept;
      CHECK(nc_net_forward(blk, 0, B, x, y1) == NC_OK);
      CHECK(nc_net_backward(blk, 0, dy, dx1) == NC_OK);
      CHECK(nc_net_forward(blk, 0, B, x, y1) == NC_OK);
      conv->plan = NULL;
      CHECK(nc_net_backward(blk, 0, dy, dx1) == NC_ENOMEM);
      conv->plan = kept;
    }
    free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2);
    nc_net_free(blk), nc_net_free(flat);
  }
}

int main(void) {
  nc_rng_seed(&rng, 3);
  test_heads();
  test_slots_and_copies();
  test_borrowing();
  test_grads_in_slots();
  test_shapes_and_init();
  test_partial_batch();
  test_tiny_resnet();
  test_layouts();
  return nc_test_done();
}
