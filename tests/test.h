/* test.h — a minimal test harness. Each test executable runs named cases; each case prints
 * "ok - NAME" or "not ok - NAME: why" (TAP-like); tests/run.sh counts them. A case fails
 * when any CHECK in it fails. The executable exits non-zero if any case failed. */
#ifndef CLS_TEST_H
#define CLS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_case_failed;
static int test_case_skipped __attribute__((unused));
static int test_cases_failed;
static int test_cases_run;
static const char *test_current __attribute__((unused)) = "";

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stdout, "#   %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stdout, __VA_ARGS__);                                         \
            fprintf(stdout, "\n");                                                \
            test_case_failed = 1;                                                 \
        }                                                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol, what)                                               \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %.9g vs %.9g (tol %g)",   \
          (what), (double)(a), (double)(b), (double)(tol))

/* SKIP("why", ...) ends the current case as skipped: it prints "ok - NAME # SKIP why", which
 * tests/run.sh counts as skipped, never as passed. A CHECK that failed before it still fails
 * the case. Use it only inside a function run by RUN_TEST. */
#define SKIP(...)                                                                 \
    do {                                                                          \
        if (!test_case_failed) {                                                  \
            fprintf(stdout, "ok - %s # SKIP ", test_current);                     \
            fprintf(stdout, __VA_ARGS__);                                         \
            fprintf(stdout, "\n");                                                \
        }                                                                         \
        test_case_skipped = 1;                                                    \
        return;                                                                   \
    } while (0)

#define RUN_TEST(fn)                                                              \
    do {                                                                          \
        test_case_failed = 0;                                                     \
        test_case_skipped = 0;                                                    \
        test_current = #fn;                                                       \
        fflush(stdout);                                                           \
        fn();                                                                     \
        test_cases_run++;                                                         \
        if (test_case_failed) test_cases_failed++;                                \
        if (test_case_failed || !test_case_skipped)                               \
            fprintf(stdout, "%s - %s\n", test_case_failed ? "not ok" : "ok", #fn);  \
        fflush(stdout);                                                           \
    } while (0)

#define TEST_EXIT() return test_cases_failed ? 1 : 0

#endif
