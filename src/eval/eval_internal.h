/* Private to src/eval. */
#ifndef NCSSL_EVAL_INTERNAL_H
#define NCSSL_EVAL_INTERNAL_H

/* Checks the sizes and labels shared by the probe and kNN; `what` starts the message. */
int nc_eval_check_sets(const char *what, const int *train_y, int n_train, const int *test_y,
                       int n_test, int dim, int n_classes);

#endif
