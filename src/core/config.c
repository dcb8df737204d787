/* config.c — run configurations: sorted (key, canonical value) lists, typed getters,
 * canonicalisation of values against a param_spec, identity hash. The registry of which
 * keys exist lives in src/models/registry.c. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void cfg_init(run_config *c) {
    c->n = 0;
    c->cap = 0;
    c->e = NULL;
}

static void entry_free(cfg_entry *e) {
    if (e->own & CFG_OWN_KEY) free(e->key);
    if (e->own & CFG_OWN_VAL) free(e->val);
}

void cfg_free(run_config *c) {
    for (int i = 0; i < c->n; i++) entry_free(&c->e[i]);
    free(c->e);
    cfg_init(c);
}

void cfg_copy(run_config *dst, const run_config *src) {
    dst->n = src->n;
    dst->cap = src->n;
    dst->e = src->n ? xmalloc(sizeof(cfg_entry) * (size_t)src->n) : NULL;
    for (int i = 0; i < src->n; i++) {
        dst->e[i].key = xstrdup(src->e[i].key);
        dst->e[i].val = xstrdup(src->e[i].val);
        dst->e[i].own = CFG_OWN_KEY | CFG_OWN_VAL;
    }
}

void cfg_copy_static(run_config *dst, const run_config *src) {
    dst->n = src->n;
    dst->cap = src->n;
    dst->e = src->n ? xmalloc(sizeof(cfg_entry) * (size_t)src->n) : NULL;
    for (int i = 0; i < src->n; i++) {
        dst->e[i] = src->e[i];
        dst->e[i].own = 0;
    }
}

/* Index of key, or -(insertion point) - 1. */
static int cfg_search(const run_config *c, const char *key) {
    int lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int d = strcmp(c->e[mid].key, key);
        if (d == 0) return mid;
        if (d < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -lo - 1;
}

/* Sets key to val; copy: whether both are copied (owned) or borrowed. */
static void set(run_config *c, const char *key, const char *val, int copy) {
    int i = cfg_search(c, key);
    if (i >= 0) {
        char *v = copy ? xstrdup(val) : (char *)val;
        if (c->e[i].own & CFG_OWN_VAL) free(c->e[i].val);
        c->e[i].val = v;
        c->e[i].own = (unsigned char)((c->e[i].own & CFG_OWN_KEY) | (copy ? CFG_OWN_VAL : 0));
        return;
    }
    int at = -i - 1;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->e = xrealloc(c->e, sizeof(cfg_entry) * (size_t)c->cap);
    }
    memmove(c->e + at + 1, c->e + at, sizeof(cfg_entry) * (size_t)(c->n - at));
    c->e[at].key = copy ? xstrdup(key) : (char *)key;
    c->e[at].val = copy ? xstrdup(val) : (char *)val;
    c->e[at].own = copy ? CFG_OWN_KEY | CFG_OWN_VAL : 0;
    c->n++;
}

void cfg_set(run_config *c, const char *key, const char *val) { set(c, key, val, 1); }

void cfg_set_static(run_config *c, const char *key, const char *val) { set(c, key, val, 0); }

void cfg_unset(run_config *c, const char *key) {
    int i = cfg_search(c, key);
    if (i < 0) return;
    entry_free(&c->e[i]);
    memmove(c->e + i, c->e + i + 1, sizeof(cfg_entry) * (size_t)(c->n - i - 1));
    c->n--;
}

const char *cfg_get(const run_config *c, const char *key) {
    int i = cfg_search(c, key);
    return i >= 0 ? c->e[i].val : NULL;
}

static const char *cfg_need(const run_config *c, const char *key) {
    const char *v = cfg_get(c, key);
    if (!v) {
        fprintf(stderr, "clsweep: internal error: configuration key '%s' missing\n", key);
        abort();
    }
    return v;
}

static void cfg_bad(const char *key, const char *v, const char *what) {
    fprintf(stderr, "clsweep: internal error: configuration key '%s' = '%s' is not %s\n",
            key, v, what);
    abort();
}

long cfg_int(const run_config *c, const char *key) {
    const char *v = cfg_need(c, key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) cfg_bad(key, v, "an integer");
    return x;
}

double cfg_float(const run_config *c, const char *key) {
    const char *v = cfg_need(c, key);
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end) cfg_bad(key, v, "a number");
    return x;
}

const char *cfg_str(const run_config *c, const char *key) { return cfg_need(c, key); }

int cfg_bool(const run_config *c, const char *key) {
    const char *v = cfg_need(c, key);
    if (!strcmp(v, "true")) return 1;
    if (!strcmp(v, "false")) return 0;
    cfg_bad(key, v, "a boolean");
    return 0;
}

/* Parses "[a,b,...]" (spaces allowed); returns count or -1. */
static int parse_intlist(const char *s, long *out, int max) {
    while (*s == ' ') s++;
    if (*s++ != '[') return -1;
    int n = 0;
    for (;;) {
        while (*s == ' ') s++;
        if (*s == ']' && n == 0) { s++; break; }
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end == s || errno) return -1;
        if (n < max) out[n] = x;
        n++;
        s = end;
        while (*s == ' ') s++;
        if (*s == ',') { s++; continue; }
        if (*s == ']') { s++; break; }
        return -1;
    }
    while (*s == ' ') s++;
    return *s ? -1 : n;
}

int cfg_intlist(const run_config *c, const char *key, int *out, int max) {
    const char *v = cfg_need(c, key);
    long tmp[64];
    int n = parse_intlist(v, tmp, 64);
    if (n < 0 || n > 64) cfg_bad(key, v, "an integer list");
    for (int i = 0; i < n && i < max; i++) out[i] = (int)tmp[i];
    return n;
}

char *cfg_to_string(const run_config *c) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&buf, &len, &cap, "%s", "");
    for (int i = 0; i < c->n; i++)
        cls_strappend(&buf, &len, &cap, "%s%s=%s", i ? " " : "", c->e[i].key, c->e[i].val);
    return buf;
}

void cfg_pack(const run_config *c, char **buf, size_t *len) {
    size_t n = 0;
    for (int i = 0; i < c->n; i++) n += strlen(c->e[i].key) + strlen(c->e[i].val) + 2;
    char *p = xmalloc(n ? n : 1);
    size_t at = 0;
    for (int i = 0; i < c->n; i++) {
        size_t k = strlen(c->e[i].key) + 1, v = strlen(c->e[i].val) + 1;
        memcpy(p + at, c->e[i].key, k);
        memcpy(p + at + k, c->e[i].val, v);
        at += k + v;
    }
    *buf = p;
    *len = n;
}

int cfg_unpack(run_config *c, const char *buf, size_t len) {
    cfg_init(c);
    size_t at = 0;
    while (at < len) {
        const char *k = buf + at;
        const char *kend = memchr(k, 0, len - at);
        if (!kend) goto bad;
        const char *v = kend + 1;
        if ((size_t)(v - buf) >= len) goto bad;
        const char *vend = memchr(v, 0, len - (size_t)(v - buf));
        if (!vend) goto bad;
        cfg_set(c, k, v);
        at = (size_t)(vend - buf) + 1;
    }
    return 0;
bad:
    cfg_free(c);
    cls_seterr("malformed configuration buffer");
    return -1;
}

uint64_t cfg_hash(const run_config *c) {
    uint64_t h = CLS_FNV_INIT;
    for (int i = 0; i < c->n; i++) {
        h = cls_fnv1a(h, c->e[i].key, strlen(c->e[i].key) + 1);
        h = cls_fnv1a(h, c->e[i].val, strlen(c->e[i].val) + 1);
    }
    /* FNV's low bits mix poorly for short inputs: finish with a splitmix64 avalanche. */
    h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27; h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static int in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && !strncmp(p, v, n)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int range_ok(const param_spec *s, double x) {
    return s->lo > s->hi || (x >= s->lo && x <= s->hi);
}

static void range_text(const param_spec *s, char *buf, size_t n) {
    if (s->lo > s->hi) buf[0] = 0;
    else snprintf(buf, n, " in [%g, %g]", s->lo, s->hi);
}

int param_canonicalise(const param_spec *s, const char *text, char *out, int outlen) {
    char rng[96];
    range_text(s, rng, sizeof rng);
    switch (s->type) {
    case PARAM_INT: {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(d) || d != floor(d) || fabs(d) > 2e9) {
            cls_seterr("expected an integer%s for %s, got '%s'", rng, s->key, text);
            return -1;
        }
        if (!range_ok(s, d)) {
            cls_seterr("%s = %s is out of range: expected an integer%s", s->key, text, rng);
            return -1;
        }
        snprintf(out, (size_t)outlen, "%ld", (long)d);
        return 0;
    }
    case PARAM_FLOAT: {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (end == text || *end || !isfinite(d)) {
            cls_seterr("expected a number%s for %s, got '%s'", rng, s->key, text);
            return -1;
        }
        if (!range_ok(s, d)) {
            cls_seterr("%s = %s is out of range: expected a number%s", s->key, text, rng);
            return -1;
        }
        snprintf(out, (size_t)outlen, "%.9g", d);
        return 0;
    }
    case PARAM_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on") || !strcmp(text, "1")) {
            snprintf(out, (size_t)outlen, "true");
            return 0;
        }
        if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off") || !strcmp(text, "0")) {
            snprintf(out, (size_t)outlen, "false");
            return 0;
        }
        cls_seterr("expected true or false for %s, got '%s'", s->key, text);
        return -1;
    case PARAM_STR:
        if (s->choices && !in_choices(s->choices, text)) {
            char ch[256];
            snprintf(ch, sizeof ch, "%s", s->choices);
            for (char *p = ch; *p; p++)
                if (*p == '|') *p = ',';
            cls_seterr("invalid value '%s' for %s: expected one of %s", text, s->key, ch);
            return -1;
        }
        if ((int)strlen(text) >= outlen) {
            cls_seterr("value for %s is too long", s->key);
            return -1;
        }
        snprintf(out, (size_t)outlen, "%s", text);
        return 0;
    case PARAM_INTLIST: {
        long v[64];
        int n = parse_intlist(text, v, 64);
        if (n < 1 || n > 64) {
            cls_seterr("expected a list of integers like [10, 10] for %s, got '%s'", s->key, text);
            return -1;
        }
        size_t len = 0;
        len += (size_t)snprintf(out, (size_t)outlen, "[");
        for (int i = 0; i < n; i++) {
            if (!range_ok(s, (double)v[i])) {
                cls_seterr("%s = %s: element %ld is out of range: expected integers%s", s->key,
                           text, v[i], rng);
                return -1;
            }
            if (len < (size_t)outlen)
                len += (size_t)snprintf(out + len, (size_t)outlen - len, "%s%ld", i ? "," : "", v[i]);
        }
        if (len < (size_t)outlen) len += (size_t)snprintf(out + len, (size_t)outlen - len, "]");
        if (len >= (size_t)outlen) {
            cls_seterr("value for %s is too long", s->key);
            return -1;
        }
        return 0;
    }
    }
    cls_seterr("internal: bad param type");
    return -1;
}
