/* mlp.c — the multi-layer perceptron (see mlp.h). */
#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

long mlp_param_count(int nlayers, const int *sizes) {
    long n = 0;
    for (int l = 0; l < nlayers; l++) n += (long)sizes[l + 1] * (sizes[l] + 1);
    return n;
}

void mlp_init(mlp_t *m, int nlayers, const int *sizes, const act_kind *acts,
              float *arena_params, float *arena_grads, rng_t *r) {
    memset(m, 0, sizeof *m);
    m->nlayers = nlayers;
    long off = 0;
    for (int l = 0; l < nlayers; l++) {
        m->sizes[l] = sizes[l];
        m->act[l] = acts[l];
        m->off_w[l] = off;
        off += (long)sizes[l + 1] * sizes[l];
        m->off_b[l] = off;
        off += sizes[l + 1];
    }
    m->sizes[nlayers] = sizes[nlayers];
    m->nparams = off;
    if (arena_params) {
        m->params = arena_params;
        m->grads = arena_grads;
    } else {
        m->params = xcalloc((size_t)off, sizeof(float));
        m->grads = xcalloc((size_t)off, sizeof(float));
        m->own_arena = 1;
    }
    for (int l = 0; l < nlayers; l++) {
        float bound = 1.0f / sqrtf((float)sizes[l]);
        rng_fill_uniform(r, m->params + m->off_w[l], (long)sizes[l + 1] * sizes[l], -bound, bound);
        rng_fill_uniform(r, m->params + m->off_b[l], sizes[l + 1], -bound, bound);
    }
}

static void mlp_reserve(mlp_t *m, int B) {
    if (B <= m->cap_batch) return;
    int maxw = 0;
    for (int l = 0; l <= m->nlayers; l++)
        if (m->sizes[l] > maxw) maxw = m->sizes[l];
    for (int l = 0; l < m->nlayers; l++) {
        size_t n = (size_t)B * (size_t)m->sizes[l + 1];
        m->z[l] = xrealloc(m->z[l], sizeof(float) * n);
        m->a[l] = m->act[l] == ACT_IDENTITY ? m->z[l] : xrealloc(m->a[l], sizeof(float) * n);
    }
    for (int k = 0; k < 3; k++) m->dbuf[k] = xrealloc(m->dbuf[k], sizeof(float) * (size_t)B * (size_t)maxw);
    m->cap_batch = B;
}

void mlp_free(mlp_t *m) {
    for (int l = 0; l < m->nlayers; l++) {
        if (m->a[l] != m->z[l]) free(m->a[l]);
        free(m->z[l]);
    }
    for (int k = 0; k < 3; k++) free(m->dbuf[k]);
    if (m->own_arena) {
        free(m->params);
        free(m->grads);
    }
    memset(m, 0, sizeof *m);
}

const float *mlp_forward(mlp_t *m, const float *x, int B) {
    mlp_reserve(m, B);
    m->input = x;
    const float *in = x;
    for (int l = 0; l < m->nlayers; l++) {
        dense_forward(m->z[l], in, m->params + m->off_w[l], m->params + m->off_b[l], B,
                      m->sizes[l], m->sizes[l + 1]);
        if (m->act[l] != ACT_IDENTITY)
            act_forward(m->act[l], m->a[l], m->z[l], (long)B * m->sizes[l + 1]);
        in = m->a[l];
    }
    return m->a[m->nlayers - 1];
}

void mlp_backward(mlp_t *m, const float *dout, float *dx, int B) {
    /* g = gradient w.r.t. the post-activation output of layer l; dz w.r.t. its input z. */
    const float *g = dout;
    int gi = 2;   /* scratch buffer holding g (dout is external: any index works) */
    for (int l = m->nlayers - 1; l >= 0; l--) {
        long n = (long)B * m->sizes[l + 1];
        const float *dz = g;
        if (m->act[l] != ACT_IDENTITY) {
            float *buf = m->dbuf[(gi + 1) % 3];
            memset(buf, 0, sizeof(float) * (size_t)n);
            act_backward(m->act[l], buf, g, m->z[l], m->a[l], n);
            dz = buf;
        }
        const float *in = l ? m->a[l - 1] : m->input;
        float *din = NULL;
        if (l > 0) {
            gi = (gi + 2) % 3;
            din = m->dbuf[gi];
            memset(din, 0, sizeof(float) * (size_t)B * (size_t)m->sizes[l]);
        } else if (dx) {
            din = dx;
        }
        dense_backward(din, m->grads + m->off_w[l], m->grads + m->off_b[l], dz, in,
                       m->params + m->off_w[l], B, m->sizes[l], m->sizes[l + 1]);
        g = din;
    }
}
