/* Phenomena rows measured on the decoupled per-mode dynamics (Eqns 11-16). */
#include "ncssl/phenomena.h"

#include <stddef.h>

const nc_phenomenon_fn nc_phenomena_modes_rows[] = {NULL};
