/* Errors: library functions return an nc_code (0 = success) and leave a one-line message
 * that says what was wrong, readable with nc_last_error(). Library code never exits. */
#ifndef NCSSL_STATUS_H
#define NCSSL_STATUS_H

typedef enum {
  NC_OK = 0,
  NC_EUSAGE = 2,   /* a bad argument or option value (the CLI exits 2) */
  NC_EINVAL = 3,   /* a bad value passed to a library function */
  NC_ENOMEM = 4,   /* an allocation failed */
  NC_EIO = 5,      /* a file could not be read or written */
  NC_EFORMAT = 6,  /* a file's contents are malformed */
  NC_ENUMERIC = 7, /* a numerical failure (NaN, an eigensolver that did not converge) */
  NC_EINTR = 8     /* stopped on request (a signal); the state worth keeping was saved */
} nc_code;

/* Records a printf-style message for this thread and returns code (for `return nc_fail(...)`). */
int nc_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message recorded by the last nc_fail on this thread ("" if none). */
const char *nc_last_error(void);
/* Clears the recorded message. */
void nc_clear_error(void);

#endif
