/* The one clock every timing in ncssl reads: monotonic seconds (never steps with the wall
 * clock), for differences only. */
#ifndef NCSSL_CLOCK_H
#define NCSSL_CLOCK_H

double nc_now_seconds(void);

#endif
