/* `ncssl bench loader`: throughput of the threaded two-view loader. */
#ifndef NCSSL_BENCH_LOADER_H
#define NCSSL_BENCH_LOADER_H

/* argv[0] is the first option after "bench loader"; returns the exit code. */
int cmd_bench_loader(int argc, char **argv);

#endif
