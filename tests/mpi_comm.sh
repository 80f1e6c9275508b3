#!/usr/bin/env bash
# The communicator over two real ranks: test_comm under mpirun (collectives, agreement, a ResNet
# with synchronised batch norm against the whole batch in one process, --check-sync's checksum).
set -u
NCSSL=$1 MPIEXEC=$2 BUILD=$3
# under the sanitizer build, Open MPI's own allocations kept until exit are not ncssl's leaks
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/mpi/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
exec "$MPIEXEC" --allow-run-as-root --oversubscribe -np 2 "$BUILD/test_comm"
