/* What every backend shares: parsing --device / --precision, opening and closing backends. */
#include "ncssl/backend.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  if (kind == NC_DEVICE_CUDA) {
    nc_eigh_where eigh = NC_EIGH_HOST;
    const char *e = getenv("NCSSL_EIGH");
    if (e && *e) {
      if (strcmp(e, "device") == 0)
        eigh = NC_EIGH_DEVICE;
      else if (strcmp(e, "host") != 0)
        return nc_fail(NC_EUSAGE, "NCSSL_EIGH: expected host or device, got '%.40s'", e);
    }
    if ((rc = nc_backend_cuda_create(out, dev, prec))) return rc;
    (*out)->eigh = eigh;
    return NC_OK;
  }
  /* The CPU's tf32 allows Winograd convolutions, its bf16 needs bf16 kernels. */
  if (!(*out = nc_backend_cpu_at(prec)))
    return nc_fail(NC_EUSAGE,
                   "--precision bf16: this CPU has no bf16 convolution kernels (oneDNN's need "
                   "AVX512-BF16 or AMX); use tf32 or fp32");
  return NC_OK;
}

void nc_backend_close(nc_backend *be) {
  if (be && be->kind != NC_DEVICE_CPU) be->i->destroy(be); /* the CPU's instances are static */
}

int nc_backend_sync(nc_backend *be) { return be->i->sync(be); }

size_t nc_backend_peak_bytes(const nc_backend *be) { return be->bytes_peak; }

void *nc_backend_host_alloc(void *ctx, size_t bytes) {
  nc_backend *be = ctx;
  return be->i->host_alloc(be, bytes);
}

void nc_backend_host_free(void *ctx, void *p) {
  nc_backend *be = ctx;
  if (p) be->i->host_free(be, p);
}

#ifdef NCSSL_HAVE_CUDA
/* The CUDA backend lives in libncssl-cuda.so, loaded on first use (CMakeLists.txt says why):
 * beside the executable (the build tree), in ../lib from it (an installed tree), else wherever
 * the dynamic linker finds it (LD_LIBRARY_PATH). */
static void *cuda_module(char *why, size_t n) {
  static void *handle;
  if (handle) return handle;
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const char *tails[] = {"libncssl-cuda.so", "../lib/libncssl-cuda.so"};
  for (int i = 0; len > 0 && i < 2 && !handle; i++) {
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) break;
    char path[4200];
    snprintf(path, sizeof path, "%.*s/%s", (int)(slash - exe), exe, tails[i]);
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  }
  if (!handle) handle = dlopen("libncssl-cuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!handle) snprintf(why, n, "%s", dlerror());
  return handle;
}

int nc_backend_cuda_built(void) { return 1; }

int nc_backend_cuda_create(nc_backend **out, int device, nc_precision precision) {
  *out = NULL;
  char why[512] = "";
  void *h = cuda_module(why, sizeof why);
  if (!h)
    return nc_fail(NC_EIO, "--device cuda:%d: the CUDA backend module did not load (%s)", device,
                   why);
  int (*create)(nc_backend **, int, nc_precision);
  *(void **)&create = dlsym(h, "nc_cuda_module_create");
  if (!create)
    return nc_fail(NC_EIO, "--device cuda:%d: libncssl-cuda.so has no nc_cuda_module_create",
                   device);
  return create(out, device, precision);
}
#else
int nc_backend_cuda_built(void) { return 0; }

int nc_backend_cuda_create(nc_backend **out, int device, nc_precision precision) {
  (void)precision;
  *out = NULL;
  return nc_fail(NC_EIO,
                 "--device cuda:%d: this ncssl was built without CUDA (cmake -DNCSSL_CUDA=ON)",
                 device);
}
#endif
