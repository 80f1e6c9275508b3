/* Datasets in memory: uint8 images (CHW per image) and int labels, read from IDX (MNIST,
 * Fashion-MNIST; raw or gzip), CIFAR-10/100 binary, STL-10 binary and image-folder trees (JPEG,
 * PNG). Every reader checks the whole file before returning: bad data gives one nc_fail message
 * naming the file and what is wrong, never a partial dataset. */
#ifndef NCSSL_DATA_H
#define NCSSL_DATA_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int n, c, h, w;  /* images, channels, height, width */
  int classes;     /* label values are 0..classes-1; 0 when the split has no labels */
  uint8_t *pixels; /* n*c*h*w bytes; image i starts at i*c*h*w, channel-major, rows top-down */
  int32_t *labels; /* n labels, -1 for an unlabeled image (always allocated) */
  char name[64];   /* e.g. "fashion-mnist/train" (for messages) */
} nc_dataset;

/* Options of nc_dataset_load; a zeroed struct gives the defaults. */
typedef struct {
  const char *dir;     /* data directory; NULL or "" = nc_dataset_default_dir(name) */
  int image_size;      /* folder only: every image becomes image_size x image_size (0 = the
                          shorter side of the first training image) */
  int channels;        /* folder only: 1 (gray) or 3 (RGB); 0 = 1 when the first training image
                          is gray (R = G = B everywhere), else 3 */
  int cifar100_coarse; /* cifar100 only: the 20 coarse labels instead of the 100 fine ones */
} nc_data_opts;

/* Loads a dataset by name: "fashion-mnist", "mnist", "cifar10", "cifar100", "stl10" or
 * "folder:PATH" (PATH overrides opts->dir). split: "train" or "test" ("val" is a synonym for
 * folder trees); stl10 also "unlabeled" and "train+unlabeled" (labels -1 for the unlabeled
 * part). Files looked for in dir:
 *   fashion-mnist, mnist: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   cifar10: data_batch_{1..5}.bin, test_batch.bin;  cifar100: train.bin, test.bin
 *   stl10: {train,test}_X.bin, {train,test}_y.bin, unlabeled_X.bin
 *   folder: PATH/CLASS/IMAGE; if PATH/train exists, PATH/train and PATH/val (or PATH/test).
 * Folder images (.jpg .jpeg .png, any case; other files ignored) are converted to `channels`,
 * their shorter side resized to image_size (antialiased bilinear, as PIL) and centre-cropped to
 * a square. Classes are the sorted sub-folder names; files are taken in sorted order. */
int nc_dataset_load(const char *name, const char *split, const nc_data_opts *opts, nc_dataset *out);
/* The default directory for a dataset name ("/usr/share/datasets/fashion-mnist", ...). */
const char *nc_dataset_default_dir(const char *name);
/* Releases a dataset's memory and zeroes it (safe on a zeroed struct). */
void nc_dataset_free(nc_dataset *d);
/* Allocates n images of c*h*w bytes (zeroed) and n labels set to -1. */
int nc_dataset_alloc(nc_dataset *d, int n, int c, int h, int w, int classes);
/* Bytes per image (c*h*w). */
static inline size_t nc_dataset_image_bytes(const nc_dataset *d) {
  return (size_t)d->c * (size_t)d->h * (size_t)d->w;
}
/* Pointer to image i's pixels. */
static inline const uint8_t *nc_dataset_image(const nc_dataset *d, int i) {
  return d->pixels + (size_t)i * nc_dataset_image_bytes(d);
}

/* Reads a whole file into memory; a gzip file (magic 1f 8b) is inflated. */
int nc_read_file(const char *path, uint8_t **data, size_t *len);

/* --- Single-format readers (path-level) --- */

/* IDX images (magic 0x00000803, uint8, n x h x w) and optional labels (0x00000801; NULL for
 * none); labels must be < classes and as many as the images. Files may be gzip-compressed. */
int nc_idx_read(const char *images_path, const char *labels_path, int classes, nc_dataset *out);
/* CIFAR binary batches appended in order: cifar100 = 0 for CIFAR-10 records (label, 3072 pixels),
 * 1 for CIFAR-100 (coarse, fine, 3072 pixels) with `coarse` choosing the label. */
int nc_cifar_read(const char *const *paths, int npaths, int cifar100, int coarse, nc_dataset *out);
/* STL-10 binary: images (3 x 96 x 96 each, column-major per channel) and optional labels
 * (1..10 on disk, 0..9 in memory; NULL for the unlabeled split). */
int nc_stl10_read(const char *images_path, const char *labels_path, nc_dataset *out);
/* An image-folder tree rooted at root (one sub-folder per class), as described above. */
/* The first image of a tree (first class folder, first file in sorted order): its shorter side,
 * and 1 channel when it is gray (R = G = B at every pixel), else 3. */
int nc_folder_probe(const char *root, int *image_size, int *channels);
int nc_folder_read(const char *root, int image_size, int channels, nc_dataset *out);

/* --- In-memory decoders (the readers above use them; the fuzz targets call them) --- */

/* Decodes IDX images (labels NULL/0 for none); `what` names the input in messages. */
int nc_idx_decode(const uint8_t *images, size_t images_len, const char *images_what,
                  const uint8_t *labels, size_t labels_len, const char *labels_what, int classes,
                  nc_dataset *out);
/* Appends the CIFAR records of one buffer to out (out zeroed or from an earlier call). */
int nc_cifar_decode_append(const uint8_t *buf, size_t len, const char *what, int cifar100,
                           int coarse, nc_dataset *out);
/* Decodes STL-10 images (and labels when labels != NULL). */
int nc_stl10_decode(const uint8_t *images, size_t images_len, const char *images_what,
                    const uint8_t *labels, size_t labels_len, const char *labels_what,
                    nc_dataset *out);
/* Decodes a JPEG or PNG (told apart by their magic bytes) into `channels` (1 or 3) channels,
 * shorter side resized to `size` and centre-cropped: out gets channels*size*size bytes (CHW). */
int nc_image_decode(const uint8_t *buf, size_t len, const char *what, int channels, int size,
                    uint8_t *out);
/* Decodes a JPEG or PNG at its own size: *pixels (malloc'd, CHW) of channels x *h x *w. */
int nc_image_decode_raw(const uint8_t *buf, size_t len, const char *what, int channels,
                        uint8_t **pixels, int *h, int *w);

#endif
