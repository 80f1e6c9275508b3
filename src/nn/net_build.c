/* Builders (ResNet-18/34/50 without fc, MLP head, single Linear) and PyTorch's default init. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ncssl/status.h"
#include "net_internal.h"

/* conv → BN (affine) [→ ReLU] */
static int conv_bn(nc_net *net, const char *pre, const char *conv, const char *bn, int x, int cout,
                   int k, int stride, int pad, int relu) {
  char a[64], b[64];
  snprintf(a, sizeof a, "%s%s", pre, conv);
  snprintf(b, sizeof b, "%s%s", pre, bn);
  int t = nc_net_bn(net, b, nc_net_conv(net, a, x, cout, k, stride, pad), 1);
  return relu ? nc_net_relu(net, t) : t;
}

/* torchvision BasicBlock (expansion 1) or Bottleneck (expansion 4, stride on the 3×3 conv). */
static int block(nc_net *net, const char *pre, int x, int planes, int stride, int bottleneck) {
  if (x < 0) return -1;
  int cin = net->t[x].c, cout = bottleneck ? 4 * planes : planes, t;
  if (bottleneck) {
    t = conv_bn(net, pre, "conv1", "bn1", x, planes, 1, 1, 0, 1);
    t = conv_bn(net, pre, "conv2", "bn2", t, planes, 3, stride, 1, 1);
    t = conv_bn(net, pre, "conv3", "bn3", t, cout, 1, 1, 0, 0);
  } else {
    t = conv_bn(net, pre, "conv1", "bn1", x, planes, 3, stride, 1, 1);
    t = conv_bn(net, pre, "conv2", "bn2", t, planes, 3, 1, 1, 0);
  }
  int skip = x;
  if (stride != 1 || cin != cout)
    skip = conv_bn(net, pre, "downsample.0", "downsample.1", x, cout, 1, stride, 0, 0);
  return nc_net_relu(net, nc_net_add(net, t, skip));
}

static int check_common(int batch, int n_slots) {
  if (batch < 1) return nc_fail(NC_EINVAL, "net: batch %d must be >= 1", batch);
  if (n_slots < 1 || n_slots > NC_NET_MAX_SLOTS)
    return nc_fail(NC_EINVAL, "net: slots %d not in 1..%d", n_slots, NC_NET_MAX_SLOTS);
  return NC_OK;
}

static int finish(nc_net **out, nc_net *net, int x, int y, const char *prefix) {
  int rc = NC_OK;
  if (y < 0)
    rc = nc_fail(NC_ENOMEM, "net: out of memory while building");
  else {
    net->input = x, net->output = y;
    rc = nc_net_finish(net, prefix);
  }
  if (rc) {
    nc_net_free(net);
    *out = NULL;
    return rc;
  }
  *out = net;
  return NC_OK;
}

int nc_resnet_build(nc_net **out, const nc_resnet_cfg *cfg, int h, int w, int batch, int n_slots,
                    int with_grad, const char *prefix) {
  return nc_resnet_build_on(NULL, out, cfg, h, w, batch, n_slots, with_grad, prefix);
}

int nc_mlp_build(nc_net **out, int d_in, int hidden, int d_out, int bn_affine, int batch,
                 int n_slots, int with_grad, const char *prefix) {
  return nc_mlp_build_on(NULL, out, d_in, hidden, d_out, bn_affine, batch, n_slots, with_grad,
                         prefix);
}

int nc_linear_net_build(nc_net **out, int d_in, int d_out, int bias, int batch, int n_slots,
                        int with_grad, const char *prefix) {
  return nc_linear_net_build_on(NULL, out, d_in, d_out, bias, batch, n_slots, with_grad, prefix);
}

static int resnet_build(nc_backend *be, nc_net **out, const nc_resnet_cfg *cfg, int h, int w,
                        int batch, int n_slots, int with_grad, const nc_net *lender,
                        const char *prefix) {
  *out = NULL;
  int rc = check_common(batch, n_slots);
  if (rc) return rc;
  static const int blocks18[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3};
  const int *blocks = cfg->depth == 18 ? blocks18 : blocks34;
  if (cfg->depth != 18 && cfg->depth != 34 && cfg->depth != 50)
    return nc_fail(NC_EINVAL, "resnet: depth %d is not 18, 34 or 50", cfg->depth);
  if (cfg->in_channels != 1 && cfg->in_channels != 3)
    return nc_fail(NC_EINVAL, "resnet: in_channels %d is not 1 or 3", cfg->in_channels);
  if (cfg->width < 1) return nc_fail(NC_EINVAL, "resnet: width %d must be >= 1", cfg->width);
  if (cfg->stem != NC_STEM_CIFAR && cfg->stem != NC_STEM_IMAGENET)
    return nc_fail(NC_EINVAL, "resnet: unknown stem %d", (int)cfg->stem);
  int min_hw = cfg->stem == NC_STEM_CIFAR ? 8 : 32;
  if (h < min_hw || w < min_hw)
    return nc_fail(NC_EINVAL, "resnet: input %dx%d smaller than %dx%d", h, w, min_hw, min_hw);
  nc_net *net = nc_net_new(be, batch, n_slots, with_grad);
  if (!net) return nc_fail(NC_ENOMEM, "resnet: out of memory");
  net->lender = lender;
  int x = nc_net_add_tensor(net, cfg->in_channels, h, w, 0), t;
  if (cfg->stem == NC_STEM_CIFAR) {
    t = conv_bn(net, "", "conv1", "bn1", x, cfg->width, 3, 1, 1, 1);
  } else {
    t = conv_bn(net, "", "conv1", "bn1", x, cfg->width, 7, 2, 3, 1);
    if (t >= 0) t = nc_net_maxpool(net, t, 3, 2, 1);
  }
  for (int l = 0; l < 4; l++)
    for (int b = 0; b < blocks[l]; b++) {
      char pre[32];
      snprintf(pre, sizeof pre, "layer%d.%d.", l + 1, b);
      int stride = (l > 0 && b == 0) ? 2 : 1;
      t = block(net, pre, t, cfg->width << l, stride, cfg->depth == 50);
    }
  if (t >= 0) t = nc_net_avgpool(net, t);
  return finish(out, net, x, t, prefix);
}

int nc_resnet_build_on(nc_backend *be, nc_net **out, const nc_resnet_cfg *cfg, int h, int w,
                       int batch, int n_slots, int with_grad, const char *prefix) {
  return resnet_build(be, out, cfg, h, w, batch, n_slots, with_grad, NULL, prefix);
}

int nc_resnet_build_borrowing(nc_backend *be, nc_net **out, const nc_resnet_cfg *cfg, int h, int w,
                              int batch, const nc_net *lender, const char *prefix) {
  if (lender && (!lender->with_grad || lender->be != (be ? be : nc_backend_cpu()))) {
    *out = NULL;
    return nc_fail(NC_EINVAL, "resnet: a lender must have gradients and the same backend");
  }
  return resnet_build(be, out, cfg, h, w, batch, 1, 0, lender, prefix);
}

int nc_mlp_build_on(nc_backend *be, nc_net **out, int d_in, int hidden, int d_out, int bn_affine,
                    int batch, int n_slots, int with_grad, const char *prefix) {
  *out = NULL;
  int rc = check_common(batch, n_slots);
  if (rc) return rc;
  if (d_in < 1 || hidden < 1 || d_out < 1)
    return nc_fail(NC_EINVAL, "mlp: sizes %d, %d, %d must be >= 1", d_in, hidden, d_out);
  nc_net *net = nc_net_new(be, batch, n_slots, with_grad);
  if (!net) return nc_fail(NC_ENOMEM, "mlp: out of memory");
  int x = nc_net_add_tensor(net, d_in, 1, 1, 0);
  int t = nc_net_linear(net, "net.0", x, hidden, 1);
  if (t >= 0) t = nc_net_bn(net, "net.1", t, bn_affine);
  if (t >= 0) t = nc_net_relu(net, t);
  if (t >= 0) t = nc_net_linear(net, "net.3", t, d_out, 1);
  return finish(out, net, x, t, prefix);
}

int nc_linear_net_build_on(nc_backend *be, nc_net **out, int d_in, int d_out, int bias, int batch,
                           int n_slots, int with_grad, const char *prefix) {
  *out = NULL;
  int rc = check_common(batch, n_slots);
  if (rc) return rc;
  if (d_in < 1 || d_out < 1)
    return nc_fail(NC_EINVAL, "linear: sizes %d, %d must be >= 1", d_in, d_out);
  nc_net *net = nc_net_new(be, batch, n_slots, with_grad);
  if (!net) return nc_fail(NC_ENOMEM, "linear: out of memory");
  int x = nc_net_add_tensor(net, d_in, 1, 1, 0);
  return finish(out, net, x, nc_net_linear(net, "", x, d_out, bias), prefix);
}

void nc_net_init(nc_net *net, nc_rng *rng) {
  for (int i = 0; i < net->nn; i++) {
    const nc_node *n = &net->nodes[i];
    float *w = n->w_off >= 0 ? net->w + n->w_off : NULL;
    float *b = n->b_off >= 0 ? net->w + n->b_off : NULL;
    if (n->kind == OP_CONV) {
      /* kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = √(2 / (cout·kh·kw)) */
      size_t count = (size_t)n->conv.cout * n->conv.cin * n->conv.kh * n->conv.kw;
      double std = sqrt(2.0 / ((double)n->conv.cout * n->conv.kh * n->conv.kw));
      for (size_t k = 0; k < count; k++) w[k] = (float)(std * nc_rng_normal(rng));
    } else if (n->kind == OP_LINEAR) {
      /* kaiming_uniform_(a=√5) gives bound √(6/((1+5)·fan_in)) = 1/√fan_in; bias the same */
      double bound = 1.0 / sqrt((double)n->conv.cin);
      size_t count = (size_t)n->conv.cout * n->conv.cin;
      for (size_t k = 0; k < count; k++) w[k] = (float)(bound * (2 * nc_rng_uniform(rng) - 1));
      if (b)
        for (int k = 0; k < n->conv.cout; k++)
          b[k] = (float)(bound * (2 * nc_rng_uniform(rng) - 1));
    } else if (n->kind == OP_BN) {
      int c = net->t[n->in].c;
      for (int k = 0; k < c; k++) {
        if (w) w[k] = 1.0f, b[k] = 0.0f;
        net->buf[n->rm_off + k] = 0.0f;
        net->buf[n->rv_off + k] = 1.0f;
      }
    }
  }
}
