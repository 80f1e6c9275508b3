/* Shared pieces of the ncssl command-line front end. */
#ifndef NCSSL_CLI_H
#define NCSSL_CLI_H
#include <signal.h>

#include "ncssl/args.h"
#include "ncssl/runlog.h"

/* Exit codes: 0 success, 1 runtime failure, 2 bad usage. */
enum { NC_EXIT_OK = 0, NC_EXIT_FAIL = 1, NC_EXIT_USAGE = 2 };

/* Parses a command's options. Returns -1 to go on, or the exit code to return right away
 * (0 after --help, 2 after printing "ncssl: <what is wrong>" for bad usage). */
int nc_cli_parse(const nc_cmd_spec *spec, int argc, char **argv, nc_args *args);
/* Prints "ncssl: <message>" (the library's last error when msg is NULL) and returns code. */
int nc_cli_error(int code, const char *msg);
/* Prints "ncssl: <flag>: <the library's last error>" and returns code (for errors caused by a
 * flag's value, e.g. an unwritable --csv path). */
int nc_cli_error_flag(int code, const char *flag);
/* Maps a library status to an exit code (NC_EUSAGE/NC_EINVAL -> 2, others -> 1). */
int nc_cli_exit_code(int status);

/* Long commands: the first SIGINT/SIGTERM sets the stop flag (the command finishes its step,
 * keeps its state and exits 128 + the signal); a second one exits at once, after a newline on a
 * terminal (tty) so the progress line is finished. */
void nc_cli_catch_stop_signals(int tty);
/* The flag set by the first signal (its number), for nc_train_opts.stop and the like. */
const volatile sig_atomic_t *nc_cli_stop_flag(void);
/* The run is over and has said how it ended: signals from here on are ignored, so the process
 * exits with the run's code. (Under mpirun a rank that exits 143 makes mpirun SIGTERM the others;
 * one still finishing after its own stop message must not add a "second signal" one.) */
void nc_cli_run_finished(void);

/* Commands with no state worth keeping (eval): SIGINT/SIGTERM end the process at once ("nothing
 * was written", exit 128 + the signal), except between nc_cli_critical(1) and
 * nc_cli_critical(0) (a record being appended), which a first signal lets finish. */
void nc_cli_quit_on_signals(void);
void nc_cli_critical(int enter);

/* A subcommand of a command group (`ncssl theory modes`, `ncssl bench step`). */
typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} nc_subcommand;

/* Runs the subcommand named by argv[0] of `group`; --help lists them; a missing or unknown name is
 * a usage error (exit 2) naming the group. */
int nc_cli_dispatch(const char *group, const nc_subcommand *subs, int nsubs, int argc, char **argv);

/* Commands: argv[0] is the first argument after the command's name. */
int cmd_theory(int argc, char **argv);
int cmd_theory_fixed_points(int argc, char **argv);
int cmd_theory_modes(int argc, char **argv);
int cmd_theory_phase(int argc, char **argv);
int cmd_theory_linear(int argc, char **argv);
int cmd_theory_phenomena(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
/* Every train option at its default, as config.txt lists them (for the report's table). */
int nc_cli_train_defaults(nc_config *c);
int cmd_report(int argc, char **argv);
int cmd_reproduce(int argc, char **argv);

/* More threads than 4 per core only slow a step down (minutes per step at 1024 on 2 cores):
 * -1 when n is within that, else the usage exit code after one error line naming flag. */
int nc_cli_check_threads(const char *flag, long n);
/* Opens the backend of --device / --precision (ncssl/backend.h). Returns -1 with *be set, or the
 * exit code after printing the one error line (2 for a malformed value, 1 when the device is not
 * there, e.g. cuda without a GPU or in a build without CUDA). */
struct nc_backend;
int nc_cli_open_backend(const char *device, const char *precision, struct nc_backend **be);

#endif
