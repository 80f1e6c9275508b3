/* The tape: graph construction, memory planning, forward in order, backward in reverse.
 *
 * Memory plan (nc_net_finish): with gradients, every tensor root gets its own activation buffer
 * per slot (backward needs them all). A gradient goes into activations of its slot that the
 * backward has already consumed when some fit (host_grads: the large early maps' gradients are
 * needed last, when the later stages' activations are dead), into buffers shared between
 * gradients never alive at the same time otherwise (greedy interval assignment). Without
 * gradients, activation buffers are shared the same way along the forward, and a network built
 * with a lender (BYOL's target) puts them and its scratch into the lender's slots and scratch,
 * which hold nothing between the lender's backward and its next forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"
#include "net_internal.h"

static nc_t4 view(const nc_net *net, int id, int n);

nc_net *nc_net_new(nc_backend *be, int batch, int n_slots, int with_grad) {
  nc_net *net = calloc(1, sizeof *net);
  if (!net) return NULL;
  net->be = be ? be : nc_backend_cpu();
  net->batch = batch;
  net->n_slots = with_grad ? n_slots : 1;
  net->with_grad = with_grad;
  net->train = 1;
  net->input = net->output = -1;
  return net;
}

void nc_net_free(nc_net *net) {
  if (!net) return;
  for (int i = 0; i < net->nn; i++) nc_conv_plan_free(net->nodes[i].plan);
  nc_arena_free(&net->arena);
  nc_params_free(&net->params);
  free(net->t);
  free(net->nodes);
  free(net->grad_ready);
  free(net->bn_sums);
  free(net);
}

int nc_net_add_tensor(nc_net *net, int c, int h, int w, int cnhw) {
  if (net->nt == net->cap_t) {
    int cap = net->cap_t ? 2 * net->cap_t : 64;
    nc_tensor *t = realloc(net->t, (size_t)cap * sizeof *t);
    if (!t) return -1;
    net->t = t, net->cap_t = cap;
  }
  nc_tensor *t = &net->t[net->nt];
  memset(t, 0, sizeof *t);
  t->c = c, t->h = h, t->w = w, t->cnhw = cnhw, t->root = net->nt;
  return net->nt++;
}

static nc_node *new_node(nc_net *net, nc_op_kind kind, const char *name, int in) {
  if (in < 0) return NULL;
  if (net->nn == net->cap_n) {
    int cap = net->cap_n ? 2 * net->cap_n : 64;
    nc_node *n = realloc(net->nodes, (size_t)cap * sizeof *n);
    if (!n) return NULL;
    net->nodes = n, net->cap_n = cap;
  }
  nc_node *n = &net->nodes[net->nn++];
  memset(n, 0, sizeof *n);
  n->kind = kind, n->in = in, n->in2 = -1, n->out = -1;
  n->w_off = n->b_off = n->rm_off = n->rv_off = -1;
  snprintf(n->name, sizeof n->name, "%s", name ? name : "");
  return n;
}

/* Reserves `count` floats of trainable parameters (or buffers) and returns the offset. */
static long reserve(size_t *total, size_t count) {
  long off = (long)*total;
  *total += count;
  return off;
}

int nc_net_conv(nc_net *net, const char *name, int in, int cout, int k, int stride, int pad) {
  nc_node *n = new_node(net, OP_CONV, name, in);
  if (!n) return -1;
  const nc_tensor *x = &net->t[in];
  n->conv = (nc_conv_cfg){x->c, cout, k, k, stride, pad};
  int oh, ow;
  nc_conv2d_out_hw(&n->conv, x->h, x->w, &oh, &ow);
  n->w_off = reserve(&net->n_w, (size_t)cout * x->c * k * k);
  /* Channel-major outputs serve the CPU's kernels (im2col's GEMM shapes, the channel-blocked
   * maps); other backends get dense NCHW, the layout cuDNN takes without strided descriptors. */
  return n->out = nc_net_add_tensor(net, cout, oh, ow, net->be->kind == NC_DEVICE_CPU);
}

int nc_net_bn(nc_net *net, const char *name, int in, int affine) {
  nc_node *n = new_node(net, OP_BN, name, in);
  if (!n) return -1;
  const nc_tensor x = net->t[in];
  n->affine = affine;
  if (affine) n->w_off = reserve(&net->n_w, x.c), n->b_off = reserve(&net->n_w, x.c);
  n->rm_off = reserve(&net->n_buf, x.c), n->rv_off = reserve(&net->n_buf, x.c);
  return n->out = nc_net_add_tensor(net, x.c, x.h, x.w, x.cnhw);
}

int nc_net_relu(nc_net *net, int in) {
  nc_node *last = net->nn > 0 ? &net->nodes[net->nn - 1] : NULL;
  if (in >= 0 && last && (last->kind == OP_BN || last->kind == OP_ADD) && last->out == in &&
      !last->relu) {
    /* fused into the batch norm or residual add that just produced `in` */
    last->relu = 1;
    const nc_tensor x = net->t[in];
    int out = nc_net_add_tensor(net, x.c, x.h, x.w, x.cnhw);
    if (out >= 0) net->t[out].root = net->t[in].root;
    return out;
  }
  nc_node *n = new_node(net, OP_RELU, NULL, in);
  if (!n) return -1;
  const nc_tensor x = net->t[in];
  n->out = nc_net_add_tensor(net, x.c, x.h, x.w, x.cnhw);
  if (n->out >= 0) net->t[n->out].root = net->t[in].root;
  return n->out;
}

int nc_net_add(nc_net *net, int in, int other) {
  nc_node *n = new_node(net, OP_ADD, NULL, in);
  if (!n || other < 0) return -1;
  n->in2 = other;
  const nc_tensor x = net->t[in];
  n->out = nc_net_add_tensor(net, x.c, x.h, x.w, x.cnhw);
  if (n->out >= 0) net->t[n->out].root = net->t[in].root;
  return n->out;
}

int nc_net_maxpool(nc_net *net, int in, int k, int stride, int pad) {
  nc_node *n = new_node(net, OP_MAXPOOL, NULL, in);
  if (!n) return -1;
  n->pool_k = k, n->pool_s = stride, n->pool_p = pad;
  const nc_tensor x = net->t[in];
  int oh, ow;
  nc_maxpool_out_hw(k, stride, pad, x.h, x.w, &oh, &ow);
  return n->out = nc_net_add_tensor(net, x.c, oh, ow, x.cnhw);
}

int nc_net_avgpool(nc_net *net, int in) {
  nc_node *n = new_node(net, OP_AVGPOOL, NULL, in);
  if (!n) return -1;
  return n->out = nc_net_add_tensor(net, net->t[in].c, 1, 1, 0);
}

int nc_net_linear(nc_net *net, const char *name, int in, int out_dim, int bias) {
  nc_node *n = new_node(net, OP_LINEAR, name, in);
  if (!n) return -1;
  int d = net->t[in].c * net->t[in].h * net->t[in].w;
  n->conv.cin = d, n->conv.cout = out_dim, n->bias = bias;
  n->w_off = reserve(&net->n_w, (size_t)out_dim * d);
  if (bias) n->b_off = reserve(&net->n_w, out_dim);
  return n->out = nc_net_add_tensor(net, out_dim, 1, 1, 0);
}

static size_t tensor_floats(const nc_net *net, int id) {
  const nc_tensor *t = &net->t[id];
  return (size_t)net->batch * t->c * t->h * t->w;
}

/* The bytes a root's buffer takes in the arena (its size rounded up to the alignment). */
static size_t root_bytes(const nc_net *net, int r) {
  size_t b = tensor_floats(net, r) * sizeof(float);
  return (b + NC_ARENA_ALIGN - 1) / NC_ARENA_ALIGN * NC_ARENA_ALIGN;
}

/* What nc_net_finish decides and carve() follows (twice: measuring, then for real). */
typedef struct {
  int *which;      /* root → shared buffer: activations without gradients, gradients with */
  size_t *size;    /* the shared buffers' floats */
  int nbuf;        /* how many */
  size_t *act_off; /* with gradients: each root's activation inside a slot's block (bytes) */
  size_t slot_bytes;
  long *host; /* with gradients: the root's gradient inside its slot's block (bytes), -1: shared */
} mem_plan;

/* Greedy interval assignment: root r is alive over steps [first[r], last[r]]; roots whose
 * intervals do not overlap may share a buffer. Roots with host[r] >= 0 (host may be NULL) have
 * their place already. Writes each root's buffer index into which[] and the buffers' sizes into
 * size[]; returns the number of buffers. */
static int share_buffers(const nc_net *net, const int *first, const int *last, const long *host,
                         int *which, size_t *size, int *busy_until) {
  int nbuf = 0;
  /* roots by start step (stable order keeps the plan deterministic) */
  for (int step = -1; step <= net->nn; step++)
    for (int r = 0; r < net->nt; r++) {
      if (net->t[r].root != r || first[r] != step || (host && host[r] >= 0)) continue;
      int best = -1;
      for (int b = 0; b < nbuf; b++)
        if (busy_until[b] < step && (best < 0 || size[b] > size[best])) best = b;
      if (best < 0) best = nbuf++, size[best] = 0;
      which[r] = best;
      busy_until[best] = last[r];
      if (tensor_floats(net, r) > size[best]) size[best] = tensor_floats(net, r);
    }
  return nbuf;
}

/* Marks the steps at which each root is touched; steps run forward (0..nn-1) or, for gradients,
 * in backward order (node i at step nn-1-i). */
static void lifetimes(const nc_net *net, int backward, int *first, int *last) {
  for (int r = 0; r < net->nt; r++) first[r] = net->nn + 1, last[r] = -2;
  for (int i = 0; i < net->nn; i++) {
    const nc_node *n = &net->nodes[i];
    int step = backward ? net->nn - 1 - i : i, ids[3] = {n->in, n->in2, n->out};
    for (int k = 0; k < 3; k++) {
      if (ids[k] < 0) continue;
      int r = net->t[ids[k]].root;
      if (step < first[r]) first[r] = step;
      if (step > last[r]) last[r] = step;
    }
  }
  /* the output is written by the caller's dy before the backward, and read after a forward */
  int out = net->t[net->output].root, in = net->t[net->input].root;
  if (backward) {
    first[out] = -1;
    last[in] = net->nn;
  } else {
    first[in] = -1;
    last[out] = net->nn;
  }
}

typedef struct {
  size_t lo, hi;
} span;

/* Removes [cut.lo, cut.hi) from the sorted disjoint spans s[0..n) (tmp: room for n + 1);
 * returns the new count. */
static int spans_cut(span *s, int n, span cut, span *tmp) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (s[i].hi <= cut.lo || s[i].lo >= cut.hi) {
      tmp[m++] = s[i];
      continue;
    }
    if (s[i].lo < cut.lo) tmp[m++] = (span){s[i].lo, cut.lo};
    if (s[i].hi > cut.hi) tmp[m++] = (span){cut.hi, s[i].hi};
  }
  memcpy(s, tmp, (size_t)m * sizeof *s);
  return m;
}

/* Puts gradients into activations that their slot's backward has already consumed. With steps in
 * backward order (lifetimes), root q's activation is dead after last[q], the last node that reads
 * it, and gradient g needs its bytes from first[g] to last[g]: it takes the best-fitting dead span
 * that no gradient alive at the same time holds. The backward reaches the large early maps last,
 * when the later stages' activations are free, so only the first few (small) gradients are left
 * for shared buffers (host -1). The input and output keep their activations: callers read them.
 * free_ and tmp have room for 2·nt + 2 spans. Returns whether any gradient was placed. */
static int host_grads(const nc_net *net, const int *first, const int *last, const size_t *act_off,
                      long *host, span *free_, span *tmp) {
  const int in = net->t[net->input].root, out = net->t[net->output].root;
  int placed = 0;
  for (int r = 0; r < net->nt; r++) host[r] = -1;
  for (int step = -1; step <= net->nn; step++)
    for (int g = 0; g < net->nt; g++) {
      if (net->t[g].root != g || first[g] != step) continue;
      int n = 0; /* dead activations in address order (roots are laid out by id), merged */
      for (int q = 0; q < net->nt; q++) {
        if (net->t[q].root != q || q == in || q == out || last[q] >= step) continue;
        span b = {act_off[q], act_off[q] + root_bytes(net, q)};
        if (n > 0 && free_[n - 1].hi == b.lo)
          free_[n - 1].hi = b.hi;
        else
          free_[n++] = b;
      }
      for (int p = 0; p < net->nt && n > 0; p++) /* minus gradients placed and still alive */
        if (host[p] >= 0 && last[p] >= step)
          n = spans_cut(free_, n, (span){(size_t)host[p], host[p] + root_bytes(net, p)}, tmp);
      size_t need = root_bytes(net, g), best_len = (size_t)-1;
      for (int i = 0; i < n; i++) {
        size_t len = free_[i].hi - free_[i].lo;
        if (len >= need && len < best_len) host[g] = (long)free_[i].lo, best_len = len;
      }
      placed |= host[g] >= 0;
    }
  return placed;
}

/* Marks the tensors kept channel-blocked (all CNHW ones of 16k channels but the network's input
 * and output, which callers read and write as they are) and makes the CPU's convolution plans for
 * that choice (oneDNN; Winograd allowed at tf32). */
static int plan_convs(nc_net *net, int blocked) {
  const int in = net->t[net->input].root, out = net->t[net->output].root;
  for (int i = 0; i < net->nt; i++) {
    nc_tensor *t = &net->t[i];
    t->blocked = blocked && t->cnhw && t->c % NC_T4_BLOCK == 0 && t->root != in && t->root != out;
  }
  for (int i = 0; i < net->nn; i++) {
    nc_node *n = &net->nodes[i];
    if (n->kind != OP_CONV) continue;
    nc_conv_plan_free(n->plan), n->plan = NULL;
    nc_t4 xs = view(net, n->in, net->batch), ys = view(net, n->out, net->batch);
    const nc_precision prec = net->be->precision;
    int rc = nc_conv_plan_new(&n->plan, &n->conv, xs, ys, net->with_grad,
                              prec == NC_PRECISION_BF16   ? NC_CONV_BF16
                              : prec == NC_PRECISION_TF32 ? NC_CONV_TF32
                                                          : NC_CONV_FP32);
    if (rc) return rc;
  }
  return NC_OK;
}

/* Whether every convolution that reads or writes a blocked tensor has a plan (im2col cannot:
 * without oneDNN, or with NCSSL_CONV=im2col, the network stays planar). */
static int blocked_convs_planned(const nc_net *net) {
  for (int i = 0; i < net->nn; i++) {
    const nc_node *n = &net->nodes[i];
    if (n->kind == OP_CONV && (net->t[n->in].blocked || net->t[n->out].blocked) && !n->plan)
      return 0;
  }
  return 1;
}

/* Carves everything from net->arena (a measuring arena on the first call). */
static void carve(nc_net *net, const mem_plan *p) {
  nc_arena *a = &net->arena;
  net->w = nc_arena_floats(a, net->n_w);
  net->g = net->with_grad ? nc_arena_floats(a, net->n_w) : NULL;
  net->buf = nc_arena_floats(a, net->n_buf);
  size_t scratch = 0;
  for (int i = 0; i < net->nn; i++) {
    const nc_node *n = &net->nodes[i];
    if (n->kind != OP_CONV) continue;
    const nc_tensor *x = &net->t[n->in];
    size_t s = net->be->i->conv_workspace(net->be, &n->conv, net->batch, x->h, x->w);
    s = (s + sizeof(float) - 1) / sizeof(float);
    if (s > scratch) scratch = s;
    s = nc_conv_plan_scratch_floats(n->plan);
    if (s > scratch) scratch = s;
  }
  net->n_scratch = scratch ? scratch : 1;
  const nc_net *lender = net->lender;
  if (lender && lender->n_scratch >= net->n_scratch)
    net->scratch = lender->scratch;
  else
    net->scratch = nc_arena_floats(a, net->n_scratch);
  /* A borrower's activation buffers go into its lender's slot region when they all fit. */
  nc_arena lent = {0}, *acts = a;
  if (lender && lender->slot_region) {
    nc_arena need = {0}; /* measuring: what carving the buffers there would use */
    for (int b = 0; b < p->nbuf && b < 512; b++) nc_arena_floats(&need, p->size[b]);
    lent.base = (char *)lender->slot_region, lent.cap = lender->slot_region_bytes;
    if (need.used <= lent.cap) acts = &lent;
  }
  size_t region_start = a->used;
  for (int s = 0; s < net->n_slots; s++) {
    if (net->with_grad) {
      char *block = nc_arena_alloc(a, p->slot_bytes);
      for (int r = 0; r < net->nt; r++) {
        if (net->t[r].root != r) continue;
        net->t[r].act[s] = block ? (float *)(block + p->act_off[r]) : NULL;
        net->t[r].grad[s] = block && p->host[r] >= 0 ? (float *)(block + p->host[r]) : NULL;
      }
    } else {
      float *bufs[512];
      for (int b = 0; b < p->nbuf && b < 512; b++) bufs[b] = nc_arena_floats(acts, p->size[b]);
      for (int r = 0; r < net->nt; r++)
        if (net->t[r].root == r) net->t[r].act[s] = bufs[p->which[r]];
    }
    for (int i = 0; i < net->nn; i++) {
      nc_node *n = &net->nodes[i];
      if (n->kind == OP_BN)
        n->save[s] = nc_arena_floats(a, 2 * (size_t)net->t[n->in].c);
      else if (n->kind == OP_MAXPOOL)
        n->save[s] = nc_arena_alloc(a, tensor_floats(net, n->out) * sizeof(int32_t));
    }
  }
  if (net->with_grad) {
    float *bufs[512];
    for (int b = 0; b < p->nbuf && b < 512; b++) bufs[b] = nc_arena_floats(a, p->size[b]);
    for (int r = 0; r < net->nt; r++)
      if (net->t[r].root == r && p->host[r] < 0)
        for (int s = 0; s < net->n_slots; s++) net->t[r].grad[s] = bufs[p->which[r]];
    /* slots and shared gradient buffers were carved one after the other, to the arena's end */
    net->slot_region = a->base ? (float *)(a->base + region_start) : NULL;
    net->slot_region_bytes = a->base ? a->used - region_start : 0;
  }
  /* aliases take their root's buffers */
  for (int i = 0; i < net->nt; i++) {
    nc_tensor *t = &net->t[i], *r = &net->t[t->root];
    for (int s = 0; s < net->n_slots; s++) t->act[s] = r->act[s], t->grad[s] = r->grad[s];
  }
}

static int register_params(nc_net *net, const char *prefix) {
  for (int i = 0; i < net->nn; i++) {
    const nc_node *n = &net->nodes[i];
    char full[96];
    const char *dot = n->name[0] ? "." : "";
#define ADD(field, pname, base, grad, ndim, buffer, ...)                                        \
  do {                                                                                          \
    if (n->field < 0) break;                                                                    \
    snprintf(full, sizeof full, "%s%s%s", n->name, dot, pname);                                 \
    int shape_[4] = {__VA_ARGS__};                                                              \
    float *g_ = (grad) ? (grad) + n->field : NULL;                                              \
    if (nc_params_add(&net->params, prefix, full, (base) + n->field, g_, ndim, shape_, buffer)) \
      return NC_ENOMEM;                                                                         \
  } while (0)
    switch (n->kind) {
      case OP_CONV:
        ADD(w_off, "weight", net->w, net->g, 4, 0, n->conv.cout, n->conv.cin, n->conv.kh,
            n->conv.kw);
        break;
      case OP_LINEAR:
        ADD(w_off, "weight", net->w, net->g, 2, 0, n->conv.cout, n->conv.cin);
        ADD(b_off, "bias", net->w, net->g, 1, 0, n->conv.cout);
        break;
      case OP_BN: {
        int c = net->t[n->in].c;
        ADD(w_off, "weight", net->w, net->g, 1, 0, c);
        ADD(b_off, "bias", net->w, net->g, 1, 0, c);
        ADD(rm_off, "running_mean", net->buf, (float *)NULL, 1, 1, c);
        ADD(rv_off, "running_var", net->buf, (float *)NULL, 1, 1, c);
        break;
      }
      default:
        break;
    }
#undef ADD
  }
  return NC_OK;
}

int nc_net_finish(nc_net *net, const char *prefix) {
  int nt = net->nt;
  int *first = malloc(nt * sizeof(int)), *last = malloc(nt * sizeof(int));
  int *busy = malloc((nt + 1) * sizeof(int));
  span *spans = malloc((4 * (size_t)nt + 4) * sizeof(span));
  mem_plan p = {
      calloc(nt, sizeof(int)),  calloc(nt + 1, sizeof(size_t)), 0, calloc(nt, sizeof(size_t)), 0,
      malloc(nt * sizeof(long))};
  net->grad_ready = calloc(nt, 1);
  int rc = NC_OK;
  if (!first || !last || !busy || !spans || !p.which || !p.size || !p.act_off || !p.host ||
      !net->grad_ready) {
    rc = nc_fail(NC_ENOMEM, "net: out of memory while planning");
    goto done;
  }
  if (!net->with_grad) {
    lifetimes(net, 0, first, last);
    p.nbuf = share_buffers(net, first, last, NULL, p.which, p.size, busy);
  } else {
    for (int r = 0; r < nt; r++)
      if (net->t[r].root == r) p.act_off[r] = p.slot_bytes, p.slot_bytes += root_bytes(net, r);
    lifetimes(net, 1, first, last);
    net->grads_in_slots =
        host_grads(net, first, last, p.act_off, p.host, spans, spans + 2 * nt + 2);
    p.nbuf = share_buffers(net, first, last, p.host, p.which, p.size, busy);
  }
  if (p.nbuf > 512) {
    rc = nc_fail(NC_EINVAL, "net: too many shared buffers");
    goto done;
  }
  if (net->be->kind == NC_DEVICE_CPU) {
    /* channel-blocked activations when oneDNN can plan every convolution that touches one */
    const char *layout = getenv("NCSSL_LAYOUT");
    int blocked = !(layout && strcmp(layout, "planar") == 0);
    rc = plan_convs(net, blocked);
    if (rc == NC_OK && blocked && !blocked_convs_planned(net)) rc = plan_convs(net, 0);
    if (rc) goto done;
  }
  nc_arena_init(&net->arena, 0);
  carve(net, &p);
  size_t bytes = net->arena.used;
  if ((rc = nc_arena_init_on(&net->arena, bytes, net->be)) != NC_OK) goto done;
  carve(net, &p);
  if (nc_arena_full(&net->arena)) {
    rc = nc_fail(NC_ENOMEM, "net: arena plan mismatch");
    goto done;
  }
  rc = register_params(net, prefix);
  if (rc) nc_fail(rc, "net: out of memory for the parameter list");
done:
  free(first), free(last), free(busy), free(spans);
  free(p.which), free(p.size), free(p.act_off), free(p.host);
  return rc;
}

/* ---- running ---- */

static nc_t4 view(const nc_net *net, int id, int n) {
  const nc_tensor *t = &net->t[id];
  if (t->blocked) return nc_t4_blocked(n, t->c, t->h, t->w);
  return t->cnhw ? nc_t4_cnhw(n, t->c, t->h, t->w) : nc_t4_nchw(n, t->c, t->h, t->w);
}

static float *param(const nc_net *net, long off) { return off < 0 ? NULL : net->w + off; }

static int sync_bn(const nc_net *net) { return net->comm && nc_comm_size(net->comm) > 1; }

/* Synchronised BN forward: sums → all-reduce → mean; squared deviations → all-reduce → var;
 * apply (the split kernels of layers.h, each with its own OpenMP loop, the reductions between). */
static int bn_forward_sync(nc_net *net, const nc_node *nd, nc_t4 xs, const float *in, float *out,
                           float *save, double global_n) {
  double *mean = net->bn_sums, *ss = mean + xs.c, m = global_n * xs.h * xs.w;
  nc_batchnorm_sums(xs, in, mean);
  int rc = nc_comm_allreduce_d(net->comm, mean, xs.c, NC_COMM_SUM);
  if (rc) return rc;
  for (int c = 0; c < xs.c; c++) mean[c] /= m;
  nc_batchnorm_sqdev(xs, in, mean, ss);
  if ((rc = nc_comm_allreduce_d(net->comm, ss, xs.c, NC_COMM_SUM))) return rc;
  nc_batchnorm_apply(xs, in, out, param(net, nd->w_off), param(net, nd->b_off),
                     net->buf + nd->rm_off, net->buf + nd->rv_off, mean, ss, m, nd->relu, save,
                     save + xs.c);
  return NC_OK;
}

/* Synchronised BN backward: γ and β take this rank's sums (the gradient all-reduce averages
 * them later, as every other parameter); dx needs the global Σ g and Σ g·(x − mean). */
static int bn_backward_sync(nc_net *net, const nc_node *nd, nc_t4 xs, const float *in,
                            const float *out, const float *g, const float *save, double global_n,
                            float *gin, float *gw, float *gb) {
  double *sum_g = net->bn_sums, *sum_gx = sum_g + xs.c;
  const float *mask = nd->relu ? out : NULL;
  nc_batchnorm_grad_sums(xs, in, mask, g, save, sum_g, sum_gx);
  nc_batchnorm_param_grads(xs.c, sum_g, sum_gx, save + xs.c, gw, gb);
  if (!gin) return NC_OK;
  int rc = nc_comm_allreduce_d(net->comm, sum_g, 2 * (size_t)xs.c, NC_COMM_SUM);
  if (rc) return rc;
  nc_batchnorm_backward_apply(xs, in, mask, g, param(net, nd->w_off), save, save + xs.c, sum_g,
                              sum_gx, global_n * xs.h * xs.w, gin);
  return NC_OK;
}

int nc_net_set_comm(nc_net *net, nc_comm *comm) {
  if (comm && nc_comm_size(comm) > 1 && net->be->kind != NC_DEVICE_CPU)
    return nc_fail(NC_EINVAL,
                   "net: data-parallel runs (mpirun) use the CPU backend; with GPUs "
                   "they need NCCL, not built yet (docs/distributed.md)");
  int cmax = 0;
  for (int i = 0; i < net->nn; i++)
    if (net->nodes[i].kind == OP_BN && net->t[net->nodes[i].in].c > cmax)
      cmax = net->t[net->nodes[i].in].c;
  if (comm && cmax > 0 && !net->bn_sums) {
    net->bn_sums = malloc(2 * (size_t)cmax * sizeof(double));
    if (!net->bn_sums) return nc_fail(NC_ENOMEM, "net: out of memory for sync-BN sums");
  }
  net->comm = comm;
  return NC_OK;
}

/* Blocked feature maps have no im2col path: their convolution's plan must serve this batch size
 * (remade when it changes; only an out-of-memory in oneDNN leaves none). 0 (and nc_fail'ed) when
 * it does not. */
static int plan_serves(const nc_net *net, const nc_node *nd, nc_t4 xs, nc_t4 ys) {
  if (!(xs.blk || ys.blk) || nc_conv_plan_follow(nd->plan, xs, ys, net->n_scratch)) return 1;
  nc_fail(NC_ENOMEM, "net: oneDNN made no convolution plan for %d images of %dx%d", xs.n, xs.h,
          xs.w);
  return 0;
}

int nc_net_forward(nc_net *net, int slot, int n, const float *x, float *y) {
  if (slot < 0 || slot >= net->n_slots)
    return nc_fail(NC_EINVAL, "net forward: slot %d not in 0..%d", slot, net->n_slots - 1);
  if (n < 1 || n > net->batch)
    return nc_fail(NC_EINVAL, "net forward: %d samples, built for 1..%d", n, net->batch);
  if (net->train && n < 2) {
    int has_bn = 0;
    for (int i = 0; i < net->nn; i++) has_bn |= net->nodes[i].kind == OP_BN;
    if (has_bn) return nc_fail(NC_EINVAL, "net forward: batch norm in training needs n >= 2");
  }
  const int s = slot;
  const int sync = net->train && sync_bn(net);
  double global_n = n;
  if (sync) { /* the global batch: the ranks' slices may differ in size */
    int rc = nc_comm_allreduce_d(net->comm, &global_n, 1, NC_COMM_SUM);
    if (rc) return rc;
  }
  net->slot_global_n[s] = global_n;
  net->slot_n[s] = 0; /* until this forward completes */
  nc_backend *be = net->be;
  const nc_backend_i *op = be->i;
  op->upload(be, net->t[net->input].act[s], x, nc_net_in_size(net) * n * sizeof(float));
  for (int i = 0; i < net->nn; i++) {
    nc_node *nd = &net->nodes[i];
    nc_t4 xs = view(net, nd->in, n), ys = view(net, nd->out, n);
    const float *in = net->t[nd->in].act[s];
    float *out = net->t[nd->out].act[s];
    switch (nd->kind) {
      case OP_CONV:
        if (!plan_serves(net, nd, xs, ys)) return NC_ENOMEM;
        op->conv_forward(be, nd->plan, &nd->conv, xs, in, param(net, nd->w_off), ys, out,
                         net->scratch, net->n_scratch * sizeof(float));
        break;
      case OP_BN: {
        float *save = nd->save[s];
        if (sync) {
          int rc = bn_forward_sync(net, nd, xs, in, out, save, global_n);
          if (rc) return rc;
          break;
        }
        float *rm = net->buf + nd->rm_off, *rv = net->buf + nd->rv_off;
        op->bn_forward(be, xs, in, out, param(net, nd->w_off), param(net, nd->b_off), rm, rv,
                       net->train, save, save + xs.c, nd->relu);
        break;
      }
      case OP_RELU:
        op->relu_forward(be, nc_t4_numel(xs), in, out);
        break;
      case OP_ADD:
        op->add_forward(be, nc_t4_numel(xs), in, net->t[nd->in2].act[s], out, nd->relu);
        break;
      case OP_MAXPOOL:
        op->maxpool_forward(be, nd->pool_k, nd->pool_s, nd->pool_p, xs, in, ys, out, nd->save[s]);
        break;
      case OP_AVGPOOL:
        op->avgpool_forward(be, xs, in, out);
        break;
      case OP_LINEAR:
        op->linear_forward(be, n, nd->conv.cin, nd->conv.cout, in, param(net, nd->w_off),
                           param(net, nd->b_off), out);
        break;
    }
  }
  net->slot_n[s] = n;
  net->slot_train[s] = net->train;
  if (y)
    op->download(be, y, nc_net_output(net, s), (size_t)n * nc_net_out_dim(net) * sizeof(float));
  return NC_OK;
}

const float *nc_net_output(const nc_net *net, int slot) { return net->t[net->output].act[slot]; }

/* The gradient buffer of tensor id in slot s, zeroed on its first use in this backward. */
static float *grad_of(nc_net *net, int id, int s, int n) {
  nc_tensor *r = &net->t[net->t[id].root];
  if (!net->grad_ready[net->t[id].root]) {
    net->be->i->zero(net->be, r->grad[s], (size_t)n * r->c * r->h * r->w * sizeof(float));
    net->grad_ready[net->t[id].root] = 1;
  }
  return r->grad[s];
}

int nc_net_backward(nc_net *net, int slot, const float *dy, float *dx) {
  if (!net->with_grad) return nc_fail(NC_EINVAL, "net backward: built without gradients");
  if (slot < 0 || slot >= net->n_slots || net->slot_n[slot] == 0)
    return nc_fail(NC_EINVAL, "net backward: no forward in slot %d", slot);
  const int s = slot, n = net->slot_n[slot], train = net->slot_train[slot];
  nc_backend *be = net->be;
  const nc_backend_i *op = be->i;
  memset(net->grad_ready, 0, net->nt);
  /* gradients overwrite the activations they lie in: another backward needs another forward */
  if (net->grads_in_slots) net->slot_n[s] = 0;
  float *gout = grad_of(net, net->output, s, n);
  op->upload(be, gout, dy, (size_t)n * nc_net_out_dim(net) * sizeof(float));
  for (int i = net->nn - 1; i >= 0; i--) {
    nc_node *nd = &net->nodes[i];
    nc_t4 xs = view(net, nd->in, n), ys = view(net, nd->out, n);
    const float *in = net->t[nd->in].act[s], *out = net->t[nd->out].act[s];
    float *g = net->t[nd->out].grad[s];
    /* the input's gradient is only computed when the caller asked for dx */
    int want_dx = nd->in != net->input || dx != NULL;
    float *gin = want_dx ? grad_of(net, nd->in, s, n) : NULL;
    float *gw = nd->w_off >= 0 ? net->g + nd->w_off : NULL;
    float *gb = nd->b_off >= 0 ? net->g + nd->b_off : NULL;
    switch (nd->kind) {
      case OP_CONV:
        if (!plan_serves(net, nd, xs, ys)) return NC_ENOMEM;
        op->conv_backward(be, nd->plan, &nd->conv, xs, in, param(net, nd->w_off), ys, g, gin, gw,
                          net->scratch, net->n_scratch * sizeof(float));
        break;
      case OP_BN: {
        const float *save = nd->save[s];
        if (train && sync_bn(net)) {
          int rc =
              bn_backward_sync(net, nd, xs, in, out, g, save, net->slot_global_n[s], gin, gw, gb);
          if (rc) return rc;
          break;
        }
        op->bn_backward(be, xs, in, nd->relu ? out : NULL, g, param(net, nd->w_off), save,
                        save + xs.c, train, gin, gw, gb);
        break;
      }
      case OP_RELU: /* in place: gin == g */
        op->relu_backward(be, nc_t4_numel(xs), out, g, gin);
        break;
      case OP_ADD: /* in place of in: its gradient is g itself */
        op->add_backward(be, nc_t4_numel(xs), out, g, grad_of(net, nd->in2, s, n), nd->relu);
        break;
      case OP_MAXPOOL:
        op->maxpool_backward(be, nd->pool_k, nd->pool_s, nd->pool_p, xs, gin, ys, g, nd->save[s]);
        break;
      case OP_AVGPOOL:
        op->avgpool_backward(be, xs, g, gin);
        break;
      case OP_LINEAR:
        op->linear_backward(be, n, nd->conv.cin, nd->conv.cout, in, param(net, nd->w_off), g, gin,
                            gw, gb);
        break;
    }
  }
  if (dx) op->copy(be, dx, grad_of(net, net->input, s, n), nc_net_in_size(net) * n * sizeof(float));
  return NC_OK;
}

/* ---- accessors ---- */

void nc_net_set_train(nc_net *net, int train) { net->train = train != 0; }
int nc_net_is_train(const nc_net *net) { return net->train; }
nc_param_list *nc_net_params(nc_net *net) { return &net->params; }
int nc_net_batch(const nc_net *net) { return net->batch; }
int nc_net_slots(const nc_net *net) { return net->n_slots; }
nc_backend *nc_net_backend(const nc_net *net) { return net->be; }

void nc_net_zero_grad(nc_net *net) {
  if (net->g) net->be->i->zero(net->be, net->g, net->n_w * sizeof(float));
}
size_t nc_net_bytes(const nc_net *net) { return net->arena.cap; }

int nc_net_conv_count(const nc_net *net, const char *kind) {
  int count = 0;
  for (int i = 0; i < net->nn; i++) {
    if (net->nodes[i].kind != OP_CONV) continue;
    const char *k =
        net->be->kind == NC_DEVICE_CPU ? nc_conv_plan_kind(net->nodes[i].plan) : "device";
    count += strcmp(k, kind) == 0;
  }
  return count;
}

void nc_net_layout_count(const nc_net *net, int *blocked, int *planar) {
  *blocked = *planar = 0;
  for (int r = 0; r < net->nt; r++)
    if (net->t[r].root == r && net->t[r].cnhw) ++*(net->t[r].blocked ? blocked : planar);
}

void nc_net_flat(nc_net *net, float **w, float **g, size_t *n) {
  *w = net->w;
  *g = net->g;
  *n = net->n_w;
}

size_t nc_net_in_size(const nc_net *net) {
  const nc_tensor *t = &net->t[net->input];
  return (size_t)t->c * t->h * t->w;
}

int nc_net_out_dim(const nc_net *net) {
  const nc_tensor *t = &net->t[net->output];
  return t->c * t->h * t->w;
}

double nc_net_flops(const nc_net *net, int n) {
  double f = 0;
  for (int i = 0; i < net->nn; i++) {
    const nc_node *nd = &net->nodes[i];
    if (nd->kind == OP_CONV)
      f += nc_conv2d_flops(&nd->conv, n, net->t[nd->in].h, net->t[nd->in].w);
    else if (nd->kind == OP_LINEAR)
      f += 2.0 * n * nd->conv.cin * nd->conv.cout;
  }
  return f;
}

int nc_net_copy_params(nc_net *dst, const nc_net *src) {
  if (dst->n_w != src->n_w || dst->n_buf != src->n_buf || dst->params.n != src->params.n)
    return nc_fail(NC_EINVAL, "net copy: the networks have different parameters");
  if (dst->be != src->be) return nc_fail(NC_EINVAL, "net copy: the networks are on two backends");
  for (int i = 0; i < src->params.n; i++)
    if (src->params.items[i].n != dst->params.items[i].n)
      return nc_fail(NC_EINVAL, "net copy: %s differs in size", src->params.items[i].name);
  dst->be->i->copy(dst->be, dst->w, src->w, src->n_w * sizeof(float));
  dst->be->i->copy(dst->be, dst->buf, src->buf, src->n_buf * sizeof(float));
  return NC_OK;
}
