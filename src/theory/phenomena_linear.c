/* Phenomena rows measured on the full-matrix linear model (Eqns 2-4, 7). */
#include <stddef.h>

#include "ncssl/phenomena.h"

const nc_phenomenon_fn nc_phenomena_linear_rows[] = {NULL};
