/* Convolution plans: oneDNN's direct convolution primitives (forward, backward-data,
 * backward-weights) for one layer's shape, made once when a network is built.
 *
 * Why: im2col + SGEMM wastes most of the machine at small channel counts (the K = cin·9 by
 * cout = 16 products of a width-16 ResNet are too thin for a GEMM kernel), while oneDNN's JIT
 * kernels work on channel-blocked layouts (nChw16c on AVX-512, nChw8c on AVX2) that keep the
 * vector lanes full. The primitives are created with format "any", so oneDNN picks the layout it
 * prefers on this ISA; our tensors (CNHW or NCHW, any nc_t4 strides) are reordered into it on
 * the way in and back on the way out. The networks keep their feature maps of 16k channels in
 * nChw16c (nc_t4_blocked), which is what the AVX-512 kernels and the Winograd ones ask for, so
 * between layers there is nothing to reorder: the copies are left for the network's edges, the
 * weights, and CPUs whose kernels want another block (nChw8c on AVX2). The reorders that write our
 * gradients carry a sum post-op, which gives the layers' "backward accumulates" contract (dx +=, dW
 * +=) without another pass. The blocked copies live in the caller's scratch, so a network shares
 * one buffer for all of its convolutions.
 *
 * At --precision bf16, on CPUs with bf16 kernels (AVX512-BF16, AMX), the primitives read bf16: the
 * reorders that bring x, W and dy in round them, the kernels accumulate in fp32 and write fp32
 * y, dx and dW (with the same sum post-op), so only the convolutions' inputs are bf16, as under
 * torch.autocast, while every tensor the network keeps stays fp32.
 *
 * Where the caller allows it (the CPU backend at --precision tf32), the 3×3 stride-1 convolutions
 * of 32 or more channels use oneDNN's Winograd F(4×4, 3×3) kernels instead of direct ones: 1.4-2.3×
 * faster on those layers, at a few times the float rounding of a direct convolution, well inside
 * what TF32 allows (docs/performance.md has the measurements). oneDNN has those kernels for
 * AVX-512 only; elsewhere the same layers run our Winograd through SGEMM (winograd.c) when their
 * maps are blocked.
 *
 * oneDNN runs on OpenMP here (Debian's build), so it follows omp_set_num_threads; for a fixed
 * thread count its kernels split the work the same way every run, so results are deterministic
 * (tests/test_conv_plan.c checks it bit for bit). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/layers.h"
#include "ncssl/status.h"
#include "winograd.h"

#ifdef NCSSL_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>

/* One tensor as the user holds it and as a primitive wants it. */
typedef struct {
  dnnl_memory_t user, inner; /* inner == user when the layouts agree */
  dnnl_primitive_t reorder; /* user → inner (inputs) or inner → user (outputs); NULL if equal */
  size_t off;               /* offset of inner's data in the scratch, in floats */
} side;

struct nc_conv_plan {
  nc_conv_cfg cfg;
  nc_t4 xs, ys;       /* the views the primitives are made for */
  int backward;       /* make the backward primitives too */
  int allow_winograd; /* the caller accepts Winograd's rounding */
  int want_bf16;      /* the caller asked for bf16 arithmetic (NC_CONV_BF16) */
  int bf16;           /* the primitives take bf16 inputs */
  int winograd;       /* the primitives are Winograd ones */
  int gemm_winograd; /* no primitives: Winograd through SGEMM (winograd.c), where oneDNN has none */
  int ready;         /* primitives exist for xs, ys (0: this batch size runs im2col) */
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  dnnl_primitive_t fwd, bwd_data, bwd_w;
  side f_src, f_w, f_dst;        /* forward */
  side b_dy, b_w, b_dx;          /* backward data */
  side w_src, w_dy, w_dw;        /* backward weights */
  size_t fwd_floats, bwd_floats; /* scratch each phase uses */
};

static dnnl_memory_desc_t user_md(nc_t4 t) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {t.n, t.c, t.h, t.w}, strides = {t.sn, t.sc, t.w, 1};
  if (t.blk) /* nc_t4_blocked is exactly oneDNN's nChw16c */
    dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, dnnl_nChw16c);
  else
    dnnl_memory_desc_init_by_strides(&md, 4, dims, dnnl_f32, strides);
  return md;
}

static dnnl_memory_desc_t any_md(int n, int c, int h, int w, dnnl_data_type_t type) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {n, c, h, w};
  dnnl_memory_desc_init_by_tag(&md, 4, dims, type, dnnl_format_tag_any);
  return md;
}

static dnnl_memory_desc_t weights_md(const nc_conv_cfg *c, int any, dnnl_data_type_t type) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {c->cout, c->cin, c->kh, c->kw};
  dnnl_memory_desc_init_by_tag(&md, 4, dims, type, any ? dnnl_format_tag_any : dnnl_oihw);
  return md;
}

/* Binds a user-layout tensor to the layout a primitive asked for, reserving scratch for the copy
 * at *used. to_user: the reorder runs inner → user (an output), accumulating when sum is set. */
static int bind(side *s, dnnl_engine_t eng, const dnnl_memory_desc_t *user,
                const dnnl_memory_desc_t *want, int to_user, int sum, size_t *used) {
  memset(s, 0, sizeof *s);
  if (dnnl_memory_create(&s->user, user, eng, DNNL_MEMORY_NONE)) return -1;
  if (dnnl_memory_desc_equal(user, want) && !sum) {
    s->inner = s->user;
    return 0;
  }
  if (dnnl_memory_create(&s->inner, want, eng, DNNL_MEMORY_NONE)) return -1;
  s->off = *used;
  *used += (dnnl_memory_desc_get_size(want) / sizeof(float) + 15) / 16 * 16;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  int rc = dnnl_primitive_attr_create(&attr);
  if (!rc && sum) {
    rc = dnnl_post_ops_create(&po);
    if (!rc) rc = dnnl_post_ops_append_sum(po, 1.0f);
    if (!rc) rc = dnnl_primitive_attr_set_post_ops(attr, po);
  }
  dnnl_primitive_desc_t pd = NULL;
  if (!rc)
    rc = to_user ? dnnl_reorder_primitive_desc_create(&pd, want, eng, user, eng, attr)
                 : dnnl_reorder_primitive_desc_create(&pd, user, eng, want, eng, attr);
  if (!rc) rc = dnnl_primitive_create(&s->reorder, pd);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc ? -1 : 0;
}

static void side_free(side *s) {
  if (s->reorder) dnnl_primitive_destroy(s->reorder);
  if (s->inner && s->inner != s->user) dnnl_memory_destroy(s->inner);
  if (s->user) dnnl_memory_destroy(s->user);
}

static const dnnl_memory_desc_t *md_of(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
  return dnnl_primitive_desc_query_md(pd, what, 0);
}

/* Frees the primitives and their memories, keeping the engine and stream. */
static void release(nc_conv_plan *p) {
  side *sides[] = {&p->f_src, &p->f_w,   &p->f_dst, &p->b_dy, &p->b_w,
                   &p->b_dx,  &p->w_src, &p->w_dy,  &p->w_dw};
  for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++)
    side_free(sides[i]), *sides[i] = (side){0};
  if (p->fwd) dnnl_primitive_destroy(p->fwd);
  if (p->bwd_data) dnnl_primitive_destroy(p->bwd_data);
  if (p->bwd_w) dnnl_primitive_destroy(p->bwd_w);
  p->fwd = p->bwd_data = p->bwd_w = NULL;
  p->fwd_floats = p->bwd_floats = 0;
  p->ready = p->winograd = p->gemm_winograd = p->bf16 = 0;
}

void nc_conv_plan_free(nc_conv_plan *p) {
  if (!p) return;
  release(p);
  if (p->stream) dnnl_stream_destroy(p->stream);
  if (p->eng) dnnl_engine_destroy(p->eng);
  free(p);
}

/* Where oneDNN's direct kernels beat im2col + SGEMM, measured per layer shape of ResNet-18 at
 * widths 4 to 64 on the 2-core AVX-512 machine (fwd + bwd, both alternated in one run; numbers in
 * docs/performance.md): 3×3 convolutions with three or more input channels, 1.1-2.8× faster, and
 * more at small spatial sizes. 1×1 convolutions are a plain GEMM already (oneDNN was 0.4-0.9×), a
 * one-channel stem is too thin for its blocked kernels (0.7×), and below 2·10⁷ FLOP neither
 * matters while primitive overhead does. A fixed rule rather than a timing at run time, so that
 * the choice, and with it every result, is the same in every process for a given thread count. */
static int worth_it(const nc_conv_cfg *c, nc_t4 xs) {
  return c->kh * c->kw > 1 && c->cin >= 3 && nc_conv2d_flops(c, xs.n, xs.h, xs.w) >= 2e7;
}

/* Where bf16 kernels beat the fp32 plan, measured per layer of a width-64 ResNet-18 at 32×32,
 * batch 64, in a whole step on the 2-core AMX machine (fwd + bwd with the reorders;
 * docs/performance.md): 3×3 layers of 64+ channels 2.2-2.6× (512 channels at 4×4: 1.4×); the
 * 3-channel stem 0.6× and the 1×1 downsamples 0.55-1.07×, which keep fp32. */
static int bf16_worth_it(const nc_conv_cfg *c) { return c->kh * c->kw > 1 && c->cin >= 16; }

int nc_conv_bf16_available(void) {
  const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
  return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

/* Channel-blocked tensors have no im2col path: a plan is made for every shape that touches one
 * (1×1 and small convolutions included; without the reorders oneDNN's kernels win there too). */
static int needs_plan(const nc_conv_cfg *c, nc_t4 xs, nc_t4 ys) {
  return xs.blk || ys.blk || worth_it(c, xs);
}

/* Where Winograd F(4×4, 3×3) beats oneDNN's direct kernels, measured per layer shape of ResNet-18
 * at widths 16 and 64, images 28 to 96, batches 32 and 128 on the 2-core AVX-512 machine (the two
 * alternated in one run; docs/performance.md). Its kernels work on 4×4 output tiles and need
 * channel counts in multiples of 16:
 * - 64 channels and more: 1.4-2.5× once there are 128 tiles or more (n·⌈h/4⌉·⌈w/4⌉), about even
 *   at 32 (4×4 images, batch 32; a 128-channel forward was 0.6×);
 * - 32 channels: 1.4× at 32×32 and 1.6-2.1× at 48×48, but even or slower (0.9×) at 14×14 and
 *   16×16, whatever the batch;
 * - 16 channels: slower (0.8× forward at 96×96).
 * Ours through SGEMM (gemm), against the AVX2 direct kernels it replaces (bench_conv_layer under
 * ONEDNN_MAX_CPU_ISA=AVX2): at 64 channels and more 1.27-1.5× from 16 tiles on (4×4 images at
 * batch 16 and 32), 0.6× at 8; at 32 channels as oneDNN's; at 16 channels even (0.96-1.16×). */
static int winograd_worth_it(const nc_conv_cfg *c, nc_t4 xs, int gemm) {
  if (!(c->kh == 3 && c->kw == 3 && c->stride == 1 && c->pad == 1 && c->cin % 16 == 0 &&
        c->cout % 16 == 0))
    return 0;
  double tiles = (double)xs.n * ((xs.h + 3) / 4) * ((xs.w + 3) / 4);
  if (c->cin >= 64 && c->cout >= 64) return tiles >= (gemm ? 16 : 128);
  return c->cin >= 32 && c->cout >= 32 && xs.h >= 32 && xs.w >= 32;
}

/* Whether oneDNN has fp32 Winograd kernels on this CPU (avx512_core), asked once of a layer it
 * would take. */
static int onednn_winograd;
static pthread_once_t onednn_winograd_asked = PTHREAD_ONCE_INIT;
static void ask_onednn_winograd(void) {
  dnnl_engine_t eng;
  if (dnnl_engine_create(&eng, dnnl_cpu, 0)) return;
  const nc_conv_cfg c = {64, 64, 3, 3, 1, 1};
  dnnl_memory_desc_t src = any_md(32, 64, 8, 8, dnnl_f32), dst = src;
  dnnl_memory_desc_t w = weights_md(&c, 1, dnnl_f32);
  dnnl_dims_t strides = {1, 1}, pad = {1, 1};
  dnnl_convolution_desc_t d;
  dnnl_primitive_desc_t pd = NULL;
  onednn_winograd =
      !dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_winograd,
                                          &src, &w, NULL, &dst, strides, pad, pad) &&
      !dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL);
  if (pd) dnnl_primitive_desc_destroy(pd);
  dnnl_engine_destroy(eng);
}

/* Creates the primitives and their reorders with algorithm alg; -1 when oneDNN declines. With
 * bf16, what the kernels read (x, W, dy) is bf16 and what they write (y, dx, dW) fp32: the
 * reorders from the caller's fp32 tensors round on the way in. */
static int build_with(nc_conv_plan *p, int backward, dnnl_alg_kind_t alg, int bf16) {
  const nc_conv_cfg *c = &p->cfg;
  const dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
  dnnl_dims_t strides = {c->stride, c->stride}, pad = {c->pad, c->pad};
  dnnl_memory_desc_t src = any_md(p->xs.n, c->cin, p->xs.h, p->xs.w, in);
  dnnl_memory_desc_t dst = any_md(p->ys.n, c->cout, p->ys.h, p->ys.w, dnnl_f32);
  dnnl_memory_desc_t dsrc = any_md(p->xs.n, c->cin, p->xs.h, p->xs.w, dnnl_f32);
  dnnl_memory_desc_t ddst = any_md(p->ys.n, c->cout, p->ys.h, p->ys.w, in);
  dnnl_memory_desc_t wany = weights_md(c, 1, in), dwany = weights_md(c, 1, dnnl_f32);
  dnnl_memory_desc_t woihw = weights_md(c, 0, dnnl_f32);
  dnnl_memory_desc_t xu = user_md(p->xs), yu = user_md(p->ys);
  dnnl_convolution_desc_t d;
  dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
  int rc = -1;
  if (dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, alg, &src, &wany, NULL, &dst,
                                         strides, pad, pad) ||
      dnnl_primitive_desc_create(&fpd, &d, NULL, p->eng, NULL) ||
      dnnl_primitive_create(&p->fwd, fpd))
    goto done;
  size_t used = 0;
  if (bind(&p->f_src, p->eng, &xu, md_of(fpd, dnnl_query_src_md), 0, 0, &used) ||
      bind(&p->f_w, p->eng, &woihw, md_of(fpd, dnnl_query_weights_md), 0, 0, &used) ||
      bind(&p->f_dst, p->eng, &yu, md_of(fpd, dnnl_query_dst_md), 1, 0, &used))
    goto done;
  p->fwd_floats = used;
  if (backward) {
    used = 0;
    if (dnnl_convolution_backward_data_desc_init(&d, alg, &dsrc, &wany, &ddst, strides, pad, pad) ||
        dnnl_primitive_desc_create(&dpd, &d, NULL, p->eng, fpd) ||
        dnnl_primitive_create(&p->bwd_data, dpd) ||
        dnnl_convolution_backward_weights_desc_init(&d, alg, &src, &dwany, NULL, &ddst, strides,
                                                    pad, pad) ||
        dnnl_primitive_desc_create(&wpd, &d, NULL, p->eng, fpd) ||
        dnnl_primitive_create(&p->bwd_w, wpd))
      goto done;
    /* both backward primitives read dy; when they want the same layout one copy serves */
    const dnnl_memory_desc_t *dy_d = md_of(dpd, dnnl_query_diff_dst_md);
    const dnnl_memory_desc_t *dy_w = md_of(wpd, dnnl_query_diff_dst_md);
    if (bind(&p->b_dy, p->eng, &yu, dy_d, 0, 0, &used) ||
        bind(&p->b_w, p->eng, &woihw, md_of(dpd, dnnl_query_weights_md), 0, 0, &used) ||
        bind(&p->b_dx, p->eng, &xu, md_of(dpd, dnnl_query_diff_src_md), 1, 1, &used) ||
        bind(&p->w_src, p->eng, &xu, md_of(wpd, dnnl_query_src_md), 0, 0, &used) ||
        bind(&p->w_dw, p->eng, &woihw, md_of(wpd, dnnl_query_diff_weights_md), 1, 1, &used))
      goto done;
    if (dnnl_memory_desc_equal(dy_d, dy_w)) {
      p->w_dy = (side){0};
    } else if (bind(&p->w_dy, p->eng, &yu, dy_w, 0, 0, &used)) {
      goto done;
    }
    p->bwd_floats = used;
  }
  p->bf16 = bf16;
  rc = 0;
done:
  if (fpd) dnnl_primitive_desc_destroy(fpd);
  if (dpd) dnnl_primitive_desc_destroy(dpd);
  if (wpd) dnnl_primitive_desc_destroy(wpd);
  return rc;
}

/* Winograd where it is allowed and worth it: oneDNN's kernels, or where it has none (no fp32
 * Winograd below AVX-512) ours through SGEMM on blocked maps; direct kernels otherwise. -1 when
 * oneDNN declines those too. NCSSL_WINOGRAD=gemm takes ours on any CPU (for comparisons and
 * tests), NCSSL_WINOGRAD=off keeps direct kernels. */
static int build(nc_conv_plan *p, int backward) {
  /* bf16 direct kernels first where asked for and present (faster than any fp32 Winograd) */
  if (p->want_bf16 && bf16_worth_it(&p->cfg) && nc_conv_bf16_available()) {
    if (build_with(p, backward, dnnl_convolution_direct, 1) == 0) return 0;
    release(p);
  }
  const char *choice = getenv("NCSSL_WINOGRAD");
  int gemm_first = choice && strcmp(choice, "gemm") == 0;
  int off = choice && strcmp(choice, "off") == 0;
  if (p->allow_winograd && !off) {
    pthread_once(&onednn_winograd_asked, ask_onednn_winograd);
    int ours = gemm_first || !onednn_winograd;
    if (!ours && winograd_worth_it(&p->cfg, p->xs, 0)) {
      if (build_with(p, backward, dnnl_convolution_winograd, 0) == 0) {
        p->winograd = 1;
        return 0;
      }
      release(p);
    }
    if (ours && nc_wino_fits(&p->cfg, p->xs, p->ys) && winograd_worth_it(&p->cfg, p->xs, 1)) {
      p->gemm_winograd = 1;
      p->fwd_floats = p->bwd_floats = nc_wino_scratch_floats(&p->cfg, p->xs);
      return 0;
    }
  }
  return build_with(p, backward, dnnl_convolution_direct, 0);
}

int nc_conv_plan_new(nc_conv_plan **out, const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys, int backward,
                     nc_conv_math math) {
  *out = NULL;
  /* NCSSL_CONV=im2col keeps every convolution on im2col + SGEMM (for comparisons) */
  const char *force = getenv("NCSSL_CONV");
  if (force && strcmp(force, "im2col") == 0) return NC_OK;
  nc_conv_plan *p = calloc(1, sizeof *p);
  if (!p) return nc_fail(NC_ENOMEM, "conv plan: out of memory");
  p->cfg = *cfg, p->xs = xs, p->ys = ys, p->backward = backward;
  p->allow_winograd = math != NC_CONV_FP32; /* bf16 rounds more than Winograd does */
  p->want_bf16 = math == NC_CONV_BF16;
  if (!needs_plan(cfg, xs, ys) || dnnl_engine_create(&p->eng, dnnl_cpu, 0) ||
      dnnl_stream_create(&p->stream, p->eng, dnnl_stream_default_flags) || build(p, backward)) {
    nc_conv_plan_free(p); /* not worth it, or oneDNN declined: the caller keeps im2col + SGEMM */
    return NC_OK;
  }
  p->ready = 1;
  *out = p;
  return NC_OK;
}

/* Remakes the primitives for other views of the same layer (another batch size, e.g. the last
 * partial batch of an epoch), deciding afresh whether oneDNN is worth it, exactly as a plan made
 * for that batch would: a network built for 256 computes 100 images as one built for 100 does. */
static void remake(nc_conv_plan *p, nc_t4 xs, nc_t4 ys) {
  release(p);
  p->xs = xs, p->ys = ys;
  if (!needs_plan(&p->cfg, xs, ys)) return;
  if (build(p, p->backward)) {
    release(p);
    return;
  }
  p->ready = 1;
}

size_t nc_conv_plan_scratch_floats(const nc_conv_plan *p) {
  if (!p) return 0;
  /* + 16: room to start the copies on a 64-byte boundary, which the Winograd kernels need */
  size_t n = p->fwd_floats > p->bwd_floats ? p->fwd_floats : p->bwd_floats;
  return n ? n + 16 : 0;
}

static int same_view(nc_t4 a, nc_t4 b) {
  return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.sn == b.sn && a.sc == b.sc &&
         a.blk == b.blk;
}

int nc_conv_plan_fits(const nc_conv_plan *p, nc_t4 xs, nc_t4 ys, size_t scratch_floats) {
  return p && p->ready && same_view(p->xs, xs) && same_view(p->ys, ys) &&
         scratch_floats >= nc_conv_plan_scratch_floats(p);
}

int nc_conv_plan_follow(nc_conv_plan *p, nc_t4 xs, nc_t4 ys, size_t scratch_floats) {
  if (!p) return 0;
  const nc_conv_cfg *c = &p->cfg;
  if (!(same_view(p->xs, xs) && same_view(p->ys, ys)) && xs.c == c->cin && ys.c == c->cout &&
      xs.h == p->xs.h && xs.w == p->xs.w)
    remake(p, xs, ys);
  return nc_conv_plan_fits(p, xs, ys, scratch_floats);
}

/* The scratch from its first 64-byte boundary (the plan asked for 16 floats of room). */
static float *aligned64(float *scratch) {
  return scratch + (64 - (uintptr_t)scratch % 64) % 64 / sizeof(float);
}

/* Points a side at its user data and its scratch copy. */
static void point(side *s, const void *user, float *scratch) {
  dnnl_memory_set_data_handle(s->user, (void *)user);
  if (s->inner != s->user) dnnl_memory_set_data_handle(s->inner, scratch + s->off);
}

/* Runs the reorder of a side (in the direction it was made for). */
static void move(const nc_conv_plan *p, const side *s, int to_user) {
  if (!s->reorder) return;
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, to_user ? s->inner : s->user},
                          {DNNL_ARG_TO, to_user ? s->user : s->inner}};
  dnnl_primitive_execute(s->reorder, p->stream, 2, a);
}

static void plan_forward(nc_conv_plan *p, const float *x, const float *W, float *y,
                         float *scratch) {
  scratch = aligned64(scratch);
  if (p->gemm_winograd) {
    nc_wino_forward(&p->cfg, p->xs, x, W, p->ys, y, scratch);
    return;
  }
  point(&p->f_src, x, scratch), point(&p->f_w, W, scratch), point(&p->f_dst, y, scratch);
  move(p, &p->f_src, 0);
  move(p, &p->f_w, 0);
  dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, p->f_src.inner},
                          {DNNL_ARG_WEIGHTS, p->f_w.inner},
                          {DNNL_ARG_DST, p->f_dst.inner}};
  dnnl_primitive_execute(p->fwd, p->stream, 3, a);
  move(p, &p->f_dst, 1);
  dnnl_stream_wait(p->stream);
}

const char *nc_conv_plan_kind(const nc_conv_plan *p) {
  return !p || !p->ready    ? "im2col"
         : p->winograd      ? "winograd"
         : p->gemm_winograd ? "winograd-gemm"
         : p->bf16          ? "onednn-bf16"
                            : "onednn";
}

static int has_backward(const nc_conv_plan *p) {
  return p->bwd_data != NULL || (p->gemm_winograd && p->backward);
}

static void plan_backward(nc_conv_plan *p, const float *x, const float *W, const float *dy,
                          float *dx, float *dW, float *scratch) {
  scratch = aligned64(scratch);
  if (p->gemm_winograd) {
    nc_wino_backward(&p->cfg, p->xs, x, W, p->ys, dy, dx, dW, scratch);
    return;
  }
  point(&p->b_dy, dy, scratch);
  move(p, &p->b_dy, 0);
  const side *wdy = p->w_dy.user ? &p->w_dy : &p->b_dy;
  if (dW) {
    if (p->w_dy.user) {
      point(&p->w_dy, dy, scratch);
      move(p, &p->w_dy, 0);
    }
    point(&p->w_src, x, scratch), point(&p->w_dw, dW, scratch);
    move(p, &p->w_src, 0);
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, p->w_src.inner},
                            {DNNL_ARG_DIFF_DST, wdy->inner},
                            {DNNL_ARG_DIFF_WEIGHTS, p->w_dw.inner}};
    dnnl_primitive_execute(p->bwd_w, p->stream, 3, a);
    move(p, &p->w_dw, 1); /* dW += */
  }
  if (dx) {
    point(&p->b_w, W, scratch), point(&p->b_dx, dx, scratch);
    move(p, &p->b_w, 0);
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, p->b_dy.inner},
                            {DNNL_ARG_WEIGHTS, p->b_w.inner},
                            {DNNL_ARG_DIFF_SRC, p->b_dx.inner}};
    dnnl_primitive_execute(p->bwd_data, p->stream, 3, a);
    move(p, &p->b_dx, 1); /* dx += */
  }
  dnnl_stream_wait(p->stream);
}

#else /* without oneDNN every convolution runs as im2col + SGEMM */

int nc_conv_bf16_available(void) { return 0; }
int nc_conv_plan_new(nc_conv_plan **out, const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys, int backward,
                     nc_conv_math math) {
  (void)cfg, (void)xs, (void)ys, (void)backward, (void)math;
  *out = NULL;
  return NC_OK;
}
void nc_conv_plan_free(nc_conv_plan *p) { (void)p; }
size_t nc_conv_plan_scratch_floats(const nc_conv_plan *p) { return (void)p, 0; }
int nc_conv_plan_fits(const nc_conv_plan *p, nc_t4 xs, nc_t4 ys, size_t scratch_floats) {
  (void)p, (void)xs, (void)ys, (void)scratch_floats;
  return 0;
}
static inline void plan_forward(nc_conv_plan *p, const float *x, const float *W, float *y,
                                float *scratch) {
  (void)p, (void)x, (void)W, (void)y, (void)scratch;
}
static inline int has_backward(const nc_conv_plan *p) { return (void)p, 0; }
const char *nc_conv_plan_kind(const nc_conv_plan *p) { return (void)p, "im2col"; }
int nc_conv_plan_follow(nc_conv_plan *p, nc_t4 xs, nc_t4 ys, size_t scratch_floats) {
  (void)p, (void)xs, (void)ys, (void)scratch_floats;
  return 0;
}
static inline void plan_backward(nc_conv_plan *p, const float *x, const float *W, const float *dy,
                                 float *dx, float *dW, float *scratch) {
  (void)p, (void)x, (void)W, (void)dy, (void)dx, (void)dW, (void)scratch;
}
#endif

/* A channel-blocked view that no plan serves (the networks check nc_conv_plan_follow first and
 * fail instead): NaNs rather than numbers read in the wrong layout. */
static void poison(float *p, size_t n) {
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

void nc_conv2d_forward_with(nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs, const float *x,
                            const float *W, nc_t4 ys, float *y, float *scratch,
                            size_t scratch_floats) {
  if (nc_conv_plan_follow(plan, xs, ys, scratch_floats))
    plan_forward(plan, x, W, y, scratch);
  else if (xs.blk || ys.blk)
    poison(y, nc_t4_numel(ys));
  else
    nc_conv2d_forward(cfg, xs, x, W, ys, y, scratch, scratch_floats);
}

void nc_conv2d_backward_with(nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs, const float *x,
                             const float *W, nc_t4 ys, const float *dy, float *dx, float *dW,
                             float *scratch, size_t scratch_floats) {
  if (nc_conv_plan_follow(plan, xs, ys, scratch_floats) && has_backward(plan)) {
    plan_backward(plan, x, W, dy, dx, dW, scratch);
  } else if (xs.blk || ys.blk) {
    poison(dx, nc_t4_numel(xs));
    poison(dW, (size_t)cfg->cout * cfg->cin * cfg->kh * cfg->kw);
  } else {
    nc_conv2d_backward(cfg, xs, x, W, ys, dy, dx, dW, scratch, scratch_floats);
  }
}
