/* Phenomena rows measured on the decoupled per-mode dynamics (Eqns 11-16). */
#include <stddef.h>

#include "ncssl/phenomena.h"

const nc_phenomenon_fn nc_phenomena_modes_rows[] = {NULL};
