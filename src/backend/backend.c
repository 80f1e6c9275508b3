/* What every backend shares: parsing --device / --precision, opening and closing backends. */
#include "ncssl/backend.h"

#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"

int nc_device_parse(const char *s, nc_device_kind *kind, int *device) {
  *device = 0;
  if (!strcmp(s, "cpu")) {
    *kind = NC_DEVICE_CPU;
    return NC_OK;
  }
  if (!strncmp(s, "cuda", 4) && (s[4] == '\0' || s[4] == ':')) {
    *kind = NC_DEVICE_CUDA;
    if (s[4] == '\0') return NC_OK;
    char *end;
    long d = strtol(s + 5, &end, 10);
    if (s[5] != '\0' && *end == '\0' && d >= 0 && d < 1024) {
      *device = (int)d;
      return NC_OK;
    }
  }
  return nc_fail(NC_EUSAGE, "--device: expected cpu, cuda or cuda:N, got '%s'", s);
}

static const char *const precision_names[] = {"tf32", "fp32", "bf16"};

int nc_precision_parse(const char *s, nc_precision *p) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, precision_names[i])) {
      *p = (nc_precision)i;
      return NC_OK;
    }
  return nc_fail(NC_EUSAGE, "--precision: expected tf32, fp32 or bf16, got '%s'", s);
}

const char *nc_precision_name(nc_precision p) { return (unsigned)p < 3 ? precision_names[p] : "?"; }

int nc_backend_open(nc_backend **out, const char *device, const char *precision) {
  *out = NULL;
  nc_device_kind kind;
  nc_precision prec = NC_PRECISION_TF32;
  int dev, rc;
  if ((rc = nc_device_parse(device ? device : "cpu", &kind, &dev))) return rc;
  if (precision && (rc = nc_precision_parse(precision, &prec))) return rc;
  if (kind == NC_DEVICE_CUDA) return nc_backend_cuda_create(out, dev, prec);
  /* The CPU computes fp32 whatever tf32 allows; mixed bf16 it does not have. */
  if (prec == NC_PRECISION_BF16)
    return nc_fail(NC_EUSAGE, "--precision bf16: the CPU backend computes fp32 only");
  *out = nc_backend_cpu();
  return NC_OK;
}

void nc_backend_close(nc_backend *be) {
  if (be && be != nc_backend_cpu()) be->i->destroy(be);
}

int nc_backend_sync(nc_backend *be) { return be->i->sync(be); }

size_t nc_backend_peak_bytes(const nc_backend *be) { return be->bytes_peak; }

#ifndef NCSSL_HAVE_CUDA
int nc_backend_cuda_built(void) { return 0; }

int nc_backend_cuda_create(nc_backend **out, int device, nc_precision precision) {
  (void)precision;
  *out = NULL;
  return nc_fail(NC_EIO,
                 "--device cuda:%d: this ncssl was built without CUDA (cmake -DNCSSL_CUDA=ON)",
                 device);
}
#endif
