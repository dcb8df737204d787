/* test.h — the minimal test harness every C test executable includes (tests/test_*.c only).
 * Each executable runs named cases; each case prints "ok - NAME", "ok - NAME # SKIP why" or
 * "not ok - NAME" (TAP-like); tests/run.sh counts them. A case fails when any CHECK in it
 * fails. The executable exits non-zero if any case failed.
 *
 * Selecting cases: `test_x NAME...` runs only the named cases (in the program's order; an
 * unknown name is a failure), `test_x --list` prints the case names without running any.
 * Other arguments starting with "--" are left to the program. The arguments are read by a
 * constructor (glibc passes argc/argv to ELF initialisers), so no main() has to forward them;
 * tests/t_cases_alone.sh uses this to run every case alone. */
#ifndef CLS_TEST_H
#define CLS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_case_failed;
static int test_case_skipped __attribute__((unused));
static int test_cases_failed;
static int test_cases_run;
static const char *test_current __attribute__((unused)) = "";

#define TEST_MAX_SELECTED 64
static const char *test_selected[TEST_MAX_SELECTED]; /* case names given on the command line */
static int test_nselected;
static int test_selected_seen[TEST_MAX_SELECTED];
static int test_list_only;                           /* --list */

__attribute__((constructor, used)) static void test_read_args(int argc, char **argv) {
    if (argc < 2 || !argv) return;
    for (int i = 1; i < argc && argv[i]; i++) {
        if (!strcmp(argv[i], "--list")) test_list_only = 1;
        else if (!strncmp(argv[i], "--", 2)) return;   /* the program's own options */
        else if (test_nselected < TEST_MAX_SELECTED) test_selected[test_nselected++] = argv[i];
    }
}

/* Whether the case NAME runs in this invocation (and, under --list, prints its name). */
static inline int test_wanted(const char *name) {
    if (test_list_only) {
        printf("%s\n", name);
        return 0;
    }
    if (test_nselected == 0) return 1;
    for (int i = 0; i < test_nselected; i++)
        if (!strcmp(test_selected[i], name)) {
            test_selected_seen[i] = 1;
            return 1;
        }
    return 0;
}

/* Cases named on the command line that the program does not have: each one is a failure. */
/* The largest |a − b| over n values, relative to max(|b|, 1e-6). */
static inline double test_maxrel(const float *a, const float *b, long n) {
    double m = 0, s = 1e-6;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m / s;
}

static inline int test_unknown_selected(void) {
    int bad = 0;
    for (int i = 0; i < test_nselected; i++)
        if (!test_selected_seen[i]) {
            printf("not ok - %s # no such test case\n", test_selected[i]);
            bad++;
        }
    return bad;
}

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

/* REQUIRE_DATA(src): skip the current case when data set src (data.h) is absent. Only a set
 * that is not there skips ("not found"); one that is there but cannot be loaded fails the
 * case. Expands to data_get/cls_geterr, so the test includes data.h and util.h. */
#define REQUIRE_DATA(src)                                                         \
    do {                                                                          \
        if (!data_get((src), 1)) {                                                \
            const char *why_ = cls_geterr();                                      \
            if (strstr(why_, "not found")) SKIP("%s", why_);                      \
            CHECK(0, "data set present but unusable: %s", why_);                  \
            return;                                                               \
        }                                                                         \
    } while (0)

#define RUN_TEST(fn)                                                              \
    do {                                                                          \
        if (!test_wanted(#fn)) break;                                             \
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

#define TEST_EXIT() return (test_cases_failed + test_unknown_selected()) ? 1 : 0

#endif
