/* SSL losses over (B, d) float batches, forward and backward.
 *
 * One "direction" compares a prediction q with a target z, row by row, and averages over the batch:
 *   byol:    2 − 2·cos(q, z)                       (BYOL; official code, digest §6.2 step 4)
 *   simsiam: −cos(q, z)                            (SimSiam's D)
 *   squared: ½‖q − z‖²                             (the theory's Eqn 1, no normalisation)
 * The symmetric loss of a step combines the two directions (q1 vs z2, q2 vs z1):
 *   byol: the sum (as the official code and the peer script);  simsiam: the mean (½D + ½D);
 *   squared: the mean (the paper's symmetrized J = ¼E[‖·‖² + ‖·‖²]).
 * Norms are clamped below at 1e-8 like F.normalize (the clamped norm is treated as a constant). */
#ifndef NCSSL_LOSS_H
#define NCSSL_LOSS_H

typedef enum { NC_LOSS_BYOL = 0, NC_LOSS_SIMSIAM = 1, NC_LOSS_SQUARED = 2 } nc_loss_kind;

/* One direction: returns weight·mean_i loss(q_i, z_i); writes weight·∂/∂q into dq and, when dz is
 * not NULL (the no-stop-gradient ablation), weight·∂/∂z into dz (both overwritten). */
double nc_loss_direction(nc_loss_kind kind, int B, int d, const float *q, const float *z,
                         double weight, float *dq, float *dz);
/* The symmetric loss of one step: direction(q1, z2) and direction(q2, z1) with the weights above.
 * dq1/dq2 receive the gradients; dz1/dz2 may be NULL (stop-gradient) or receive theirs. */
double nc_loss_symmetric(nc_loss_kind kind, int B, int d, const float *q1, const float *q2,
                         const float *z1, const float *z2, float *dq1, float *dq2, float *dz1,
                         float *dz2);
/* The weight each direction gets in the symmetric loss (1 for byol, ½ otherwise). */
double nc_loss_direction_weight(nc_loss_kind kind);

#endif
