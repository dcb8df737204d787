/* exclude.h — an index over a sweep's `exclude:` entries (src/sweep/exclude.c), so that
 * deciding whether a grid point or a random draw is excluded costs about the entries that
 * share one of its values, not every entry (20,000 entries × 40,000 points: well under a
 * second, was minutes). Called by the sweep parser (src/sweep/sweep.c) only.
 *
 * Semantics are those of the plain loop it replaces: an entry matches a point when, for each
 * of its (axis, value) pairs, the point's value on that axis is "the same" as the entry's
 * value under the caller's comparison `same` (numbers with a relative tolerance, text
 * exactly). The index resolves each pair once to the positions of its axis's values that are
 * the same, so a point only compares positions. `num` must be the caller's number parser
 * (0 and a finite value for a number), and `same(a, b)` for a number a and a text b (or the
 * reverse) must be strcmp equality; two numbers must be the same only when they lie within
 * a relative 1e-7 of each other. */
#ifndef CLS_EXCLUDE_H
#define CLS_EXCLUDE_H

typedef struct exclude_index exclude_index;
typedef int (*exclude_same_fn)(const char *a, const char *b);
typedef int (*exclude_num_fn)(const char *s, double *out);

/* An empty index for ngroups groups of group_n[g] positions each and naxes axes; axis a
 * belongs to group axis_group[a] and holds vals[a][0..nvals[a]) (the group's positions;
 * borrowed, must outlive the index). */
exclude_index *exclude_new(int ngroups, const int *group_n, int naxes, const int *axis_group,
                           char *const *const *vals, const int *nvals, exclude_same_fn same,
                           exclude_num_fn num);
void exclude_free(exclude_index *x);

/* How many values of axis a are the same as val (0: val is not one of its values). */
int exclude_count(exclude_index *x, int a, const char *val);

/* Adds an entry of npairs (axis[j], val[j]) pairs. 0; or -1 when the entry can never match
 * because pairs of one group (a zip) are never the same at one position: *bad_pair is then
 * the first pair of that group. */
int exclude_add(exclude_index *x, int npairs, const int *axis, const char *const *val,
                int *bad_pair);

/* Whether an entry matches the point with position idx[g] in each group g. With read
 * non-NULL, an entry naming a group g with read[g] == 0 does not match. exclude_add must not
 * be called after the first exclude_match. */
int exclude_match(exclude_index *x, const int *idx, const int *read);

#endif
