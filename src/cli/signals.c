/* Graceful stop for long commands (train, eval): see nc_cli_catch_stop_signals in cli.h. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Signals: the first SIGINT/SIGTERM asks the run to stop after the current step (it writes a
 * checkpoint and returns NC_EINTR); a second one ends the process at once, finishing the
 * progress line first so the shell prompt starts on a clean line. */
static volatile sig_atomic_t stop_signal, run_finished;
static int stop_tty;

static void on_stop_signal(int sig) {
  if (run_finished) return;
  if (stop_signal) {
    if (stop_tty) {
      ssize_t ignored = write(STDOUT_FILENO, "\n", 1);
      (void)ignored;
    }
    static const char msg[] =
        "ncssl: second signal: stopped at once (resume from the last "
        "checkpoint)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(128 + sig);
  }
  stop_signal = sig;
}

/* The signals are taken by a thread of their own (sigwait), blocked everywhere else: a handler
 * that interrupts the compute threads in the middle of oneDNN's SGEMM corrupted its heap (a
 * signal frame written below the stack pointer of a JIT kernel, by all appearances: glibc
 * aborted with "corrupted size vs. prev_size" in dnnl_sgemm, width 48, in 2 of 3 tries). */
static void *signal_thread(void *arg) {
  sigset_t *set = arg;
  for (;;) {
    int sig = 0;
    if (sigwait(set, &sig) == 0) on_stop_signal(sig);
  }
  return NULL;
}

void nc_cli_catch_stop_signals(int tty) {
  stop_tty = tty;
  /* The handler stays for threads started before this call (OpenBLAS's), which do not block. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread started from here on */
  pthread_t t;
  if (pthread_create(&t, NULL, signal_thread, &set) == 0) pthread_detach(t);
}

const volatile sig_atomic_t *nc_cli_stop_flag(void) { return &stop_signal; }

void nc_cli_run_finished(void) { run_finished = 1; }

/* Commands with no state worth keeping (eval): a signal ends them at once, except inside a
 * critical section (appending a record), which a first signal lets finish. */
static volatile sig_atomic_t quit_critical, quit_pending;

static void quit_now(int sig) {
  static const char msg[] = "ncssl: stopped by a signal; nothing was written\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(128 + sig);
}

static void on_quit_signal(int sig) {
  if (quit_critical && !quit_pending) {
    quit_pending = sig;
    return;
  }
  quit_now(sig);
}

void nc_cli_quit_on_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

void nc_cli_critical(int enter) {
  quit_critical = enter;
  if (!enter && quit_pending) {
    static const char msg[] = "ncssl: stopped by a signal after the record was written\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(128 + quit_pending);
  }
}
