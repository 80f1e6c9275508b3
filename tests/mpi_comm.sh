#!/usr/bin/env bash
# The communicator over two real ranks: test_comm under mpirun (collectives, agreement, a ResNet
# with synchronised batch norm against the whole batch in one process, --check-sync's checksum).
set -u
NCSSL=$1 MPIEXEC=$2 BUILD=$3
# Under the sanitizer build (make test-sanitize) the leak check is off for multi-rank runs: Open
# MPI's plugins keep memory until exit and are unloaded before LeakSanitizer reports, so their
# frames cannot be told from ncssl's; address and undefined-behaviour checks stay on, and the
# single-process tests check ncssl's own leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
exec "$MPIEXEC" --allow-run-as-root --oversubscribe -np 2 "$BUILD/test_comm"
