/* Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors, format section):
 *
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a JSON object: {"__metadata__": {"key": "value", ...},            (optional)
 *                             "NAME": {"dtype": "F32", "shape": [d0, ...],
 *                                      "data_offsets": [begin, end]}, ...}
 *             padded with spaces so that the data starts on an 8-byte boundary
 *   the data  every tensor's raw little-endian bytes, row-major; offsets are relative to here
 *
 * The header lists tensors in the order they were added, __metadata__ first; the data block holds
 * the 8-byte types first, then the 4-byte, then the 1-byte ones (each group in insertion order),
 * so every tensor is aligned to its element size. The same tensors and metadata always give the
 * same bytes. Names follow
 * nc_param (torchvision's for a ResNet), optionally prefixed ("online.backbone.", "target.", ...),
 * so a backbone written with an empty prefix loads in torchvision.models.resnet18 with
 * load_state_dict(strict=False) once the fc is dropped. Files are written atomically: a temporary
 * file in the same directory, fsync, rename over the old file, fsync the directory; a crash at any
 * moment leaves the previous file whole.
 *
 * The reader validates everything (header length within the file, well-formed JSON without
 * duplicate names, known dtypes, shapes that agree with the byte counts, offsets in range that
 * tile the data exactly without gaps or overlaps) and fails with NC_EFORMAT and a message naming
 * the file and the problem. Little-endian hosts only. */
#ifndef NCSSL_CHECKPOINT_H
#define NCSSL_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "ncssl/param.h"
#include "ncssl/rng.h"

#define NC_ST_MAX_DIMS 8

typedef enum { NC_ST_F32 = 0, NC_ST_F64, NC_ST_I64, NC_ST_I32, NC_ST_U8 } nc_st_dtype;

/* The dtype's name in the header ("F32", "F64", "I64", "I32", "U8"). */
const char *nc_st_dtype_name(nc_st_dtype dt);
/* Bytes per element. */
size_t nc_st_dtype_size(nc_st_dtype dt);

/* ---- Writing ---- */

typedef struct nc_st_writer nc_st_writer;

/* Starts an empty tensor collection. Returns NC_OK or NC_ENOMEM. */
int nc_st_writer_create(nc_st_writer **out);
/* Frees the collection (NULL is fine); tensor data is not owned. */
void nc_st_writer_free(nc_st_writer *w);
/* Adds a tensor; data is NOT copied and must stay valid until nc_st_write. ndim 0 is a scalar.
 * Returns NC_OK, NC_EINVAL (duplicate or empty name, bad shape) or NC_ENOMEM. */
int nc_st_add(nc_st_writer *w, const char *name, nc_st_dtype dt, int ndim, const int64_t *shape,
              const void *data);
/* Adds every tensor of a parameter list as F32 named prefix + name (prefix may be NULL or "");
 * buffers (BN running statistics) are included when with_buffers is nonzero. */
int nc_st_add_params(nc_st_writer *w, const nc_param_list *params, const char *prefix,
                     int with_buffers);
/* Adds a scalar or vector of int64 (step counters, loader positions, RNG states). */
int nc_st_add_i64(nc_st_writer *w, const char *name, int n, const int64_t *values);
/* Adds an RNG state as I64 [4] (its four words, bit for bit); r must stay valid until the write. */
int nc_st_add_rng(nc_st_writer *w, const char *name, const nc_rng *r);
/* Sets a metadata entry (a later call with the same key replaces the value). */
int nc_st_set_meta(nc_st_writer *w, const char *key, const char *value);
/* Stores a CRC-32 of each tensor's bytes as metadata "crc32:NAME" (8 hex digits), verified by
 * every reader of this library on open; call it after the last nc_st_add (the data must be valid
 * now). Returns NC_OK or NC_ENOMEM. */
int nc_st_add_checksums(nc_st_writer *w);
/* The CRC-32 (zlib's) of n bytes. */
unsigned long nc_st_crc32(const void *data, size_t n);
/* Writes the file atomically. Returns NC_OK or NC_EIO (message names the path and the cause). */
int nc_st_write(const nc_st_writer *w, const char *path);
/* The exact bytes nc_st_write would put in the header (length prefix excluded, padding included),
 * malloc'd and NUL-terminated; *len receives its length. NULL on allocation failure. */
char *nc_st_header_json(const nc_st_writer *w, size_t *len);

/* One call: writes a file holding one parameter list (buffers included) as prefix + name; with a
 * NULL prefix a ResNet backbone is a torchvision state dict (fc dropped). */
int nc_st_save_params(const char *path, const nc_param_list *params, const char *prefix);

/* ---- Reading ---- */

typedef struct {
  const char *name;
  nc_st_dtype dtype;
  int ndim;
  int64_t shape[NC_ST_MAX_DIMS];
  size_t count;              /* elements: the product of the shape (1 for a scalar) */
  size_t nbytes;             /* count × dtype size */
  const unsigned char *data; /* into the loaded file; may be unaligned: copy with nc_st_read_* */
} nc_st_entry;

typedef struct nc_st_file nc_st_file;

/* Reads and validates a whole file: the length prefix against the file size, then the header,
 * then the data (nothing of the claimed size is allocated before the header checks out); stored
 * checksums are verified. Only a regular file is read (a FIFO or device is refused). Returns
 * NC_OK, NC_EIO (cannot read), NC_EFORMAT (invalid; the message starts with the path) or
 * NC_ENOMEM. */
int nc_st_open(nc_st_file **out, const char *path);
/* The same for a file inside a run directory: a symbolic link there is refused (O_NOFOLLOW). */
int nc_st_open_nofollow(nc_st_file **out, const char *path);
/* Validates a file held in memory (the bytes are copied); `label` names it in messages. */
int nc_st_open_memory(nc_st_file **out, const void *bytes, size_t len, const char *label);
/* Frees it (NULL is fine). */
void nc_st_close(nc_st_file *f);
/* Number of tensors. */
int nc_st_count(const nc_st_file *f);
/* The i-th tensor in data-offset order (0 ≤ i < count). */
const nc_st_entry *nc_st_at(const nc_st_file *f, int i);
/* The tensor with that name, NULL if absent. */
const nc_st_entry *nc_st_find(const nc_st_file *f, const char *name);
/* A metadata value, NULL if absent. */
const char *nc_st_meta(const nc_st_file *f, const char *key);
/* Number of metadata entries; nc_st_meta_at gives the i-th key and value (header order). */
int nc_st_meta_count(const nc_st_file *f);
void nc_st_meta_at(const nc_st_file *f, int i, const char **key, const char **value);
/* Copies tensor `name` into dst, which holds exactly n elements of the given dtype. Returns NC_OK
 * or NC_EFORMAT (missing tensor, other dtype, other element count), the name in the message. */
int nc_st_read(const nc_st_file *f, const char *name, nc_st_dtype dt, void *dst, size_t n);
/* Loads every tensor of a parameter list (buffers too when with_buffers) from prefix + name: all
 * are checked first (present, F32, same shape), then copied, so a refusal changes nothing.
 * Returns NC_OK or NC_EFORMAT naming the first missing or mismatched tensor. */
int nc_st_load_params(const nc_st_file *f, nc_param_list *params, const char *prefix,
                      int with_buffers);

/* For a strict load: fails with NC_EFORMAT naming the first tensor whose name starts with prefix
 * but is not prefix + the name of an entry of params (e.g. a checkpoint of a deeper network).
 * Tensors outside the prefix are ignored; with an empty prefix every tensor counts. */
int nc_st_check_no_extra(const nc_st_file *f, const nc_param_list *params, const char *prefix);
/* Reads an RNG state written by nc_st_add_rng. Returns NC_OK or NC_EFORMAT. */
int nc_st_read_rng(const nc_st_file *f, const char *name, nc_rng *r);
/* One call: opens path and loads params (buffers included) from prefix + name. */
int nc_st_load_params_file(const char *path, nc_param_list *params, const char *prefix);

#endif
