/* `ncssl bench eigh`: DirectPred's eigendecomposition of F̂, where a backend can run it. */
#ifndef NCSSL_BENCH_EIGH_H
#define NCSSL_BENCH_EIGH_H

/* argv[0] is the first option after "bench eigh"; returns the exit code. */
int cmd_bench_eigh(int argc, char **argv);

#endif
