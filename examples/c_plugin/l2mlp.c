/* l2mlp.c — an example clsweep C plugin (docs/extending.md): a one-hidden-layer MLP (ReLU,
 * softmax cross-entropy, plain SGD) that, from the second stage on, adds the penalty
 * lambda/2 * ||w - w_prev||^2 pulling the weights towards those at the end of the previous
 * stage ("L2 to the previous weights", the simplest regularisation baseline of continual
 * learning). Classification only; honours task-incremental class masks. Deterministic: every
 * random draw comes from a xorshift generator seeded with the run's seed.
 * Build: see Makefile (pkg-config clsweep). Keys: l2mlp.hidden, .lr, .batch, .lambda. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clsweep/plugin.h>

typedef struct {
    const clsweep_host *h;
    int in, hid, out, batch;
    float lr, lambda;
    float *w, *prev, *g;        /* w = [W1 (hid,in), b1 (hid), W2 (out,hid), b2 (out)] */
    long nw;
    float *hbuf, *obuf;         /* per-example activations */
    uint64_t rng;
    int stages_done;
} l2mlp;

static uint64_t next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}
static float uniform(uint64_t *s) { return (float)((next(s) >> 11) * (1.0 / 9007199254740992.0)); }

static void *init(const clsweep_host *h, clsweep_run *r, const clsweep_stream *s) {
    if (s->kind != CLSWEEP_KIND_CLASSIFICATION || s->tasks[0].n_train == 0) {
        h->error(r, "l2mlp needs a classification stream with stored examples");
        return NULL;
    }
    l2mlp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->h = h;
    m->in = s->in_dim, m->out = s->out_dim;
    m->hid = (int)h->get_int(r, "hidden", 64);
    m->batch = (int)h->get_int(r, "batch", 32);
    m->lr = (float)h->get_float(r, "lr", 0.05);
    m->lambda = (float)h->get_float(r, "lambda", 1.0);
    m->nw = (long)m->hid * m->in + m->hid + (long)m->out * m->hid + m->out;
    m->w = calloc((size_t)m->nw, sizeof(float));
    m->prev = calloc((size_t)m->nw, sizeof(float));
    m->g = calloc((size_t)m->nw, sizeof(float));
    m->hbuf = calloc((size_t)m->hid, sizeof(float));
    m->obuf = calloc((size_t)m->out, sizeof(float));
    if (!m->w || !m->prev || !m->g || !m->hbuf || !m->obuf) {
        h->error(r, "out of memory");
        return NULL;
    }
    m->rng = s->seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    float a1 = sqrtf(6.0f / (float)(m->in + m->hid)), a2 = sqrtf(6.0f / (float)(m->hid + m->out));
    float *W2 = m->w + (long)m->hid * m->in + m->hid;
    for (long i = 0; i < (long)m->hid * m->in; i++) m->w[i] = (2 * uniform(&m->rng) - 1) * a1;
    for (long i = 0; i < (long)m->out * m->hid; i++) W2[i] = (2 * uniform(&m->rng) - 1) * a2;
    return m;
}

/* Logits of x into m->obuf (hidden activations in m->hbuf). */
static void forward(l2mlp *m, const float *x) {
    const float *W1 = m->w, *b1 = W1 + (long)m->hid * m->in, *W2 = b1 + m->hid,
                *b2 = W2 + (long)m->out * m->hid;
    for (int j = 0; j < m->hid; j++) {
        float a = b1[j];
        const float *row = W1 + (long)j * m->in;
        for (int i = 0; i < m->in; i++) a += row[i] * x[i];
        m->hbuf[j] = a > 0 ? a : 0;
    }
    for (int k = 0; k < m->out; k++) {
        float a = b2[k];
        const float *row = W2 + (long)k * m->hid;
        for (int j = 0; j < m->hid; j++) a += row[j] * m->hbuf[j];
        m->obuf[k] = a;
    }
}

/* Softmax over the allowed classes (all, or the task's when masked) into obuf; in place. */
static void softmax(l2mlp *m, const clsweep_task *t) {
    float mx = -INFINITY, sum = 0;
    for (int k = 0; k < m->out; k++) {
        int ok = !t->class_mask;
        for (int c = 0; !ok && c < t->nclasses; c++) ok = t->classes[c] == k;
        if (!ok) m->obuf[k] = -INFINITY;
        if (m->obuf[k] > mx) mx = m->obuf[k];
    }
    for (int k = 0; k < m->out; k++) sum += m->obuf[k] = expf(m->obuf[k] - mx);
    for (int k = 0; k < m->out; k++) m->obuf[k] /= sum;
}

/* Adds the gradient of example x (label y) to m->g; returns its loss. */
static float backward(l2mlp *m, const float *x, int y, const clsweep_task *t) {
    forward(m, x);
    softmax(m, t);
    float loss = -logf(m->obuf[y] > 1e-30f ? m->obuf[y] : 1e-30f);
    float *gW1 = m->g, *gb1 = gW1 + (long)m->hid * m->in, *gW2 = gb1 + m->hid,
          *gb2 = gW2 + (long)m->out * m->hid;
    const float *W2 = m->w + (long)m->hid * m->in + m->hid;
    for (int j = 0; j < m->hid; j++) {
        float dh = 0;
        for (int k = 0; k < m->out; k++) {
            float d = m->obuf[k] - (k == y);
            dh += d * W2[(long)k * m->hid + j];
        }
        if (m->hbuf[j] <= 0) continue;
        gb1[j] += dh;
        for (int i = 0; i < m->in; i++) gW1[(long)j * m->in + i] += dh * x[i];
    }
    for (int k = 0; k < m->out; k++) {
        float d = m->obuf[k] - (k == y);
        gb2[k] += d;
        for (int j = 0; j < m->hid; j++) gW2[(long)k * m->hid + j] += d * m->hbuf[j];
    }
    return loss;
}

static int train_stage(void *mm, clsweep_run *r, const clsweep_stream *s, int stage) {
    l2mlp *m = mm;
    const clsweep_task *t = &s->tasks[s->stage_task[stage]];
    int n = t->n_train;
    int *order = malloc(sizeof(int) * (size_t)n);
    if (!order) {
        m->h->error(r, "out of memory");
        return CLSWEEP_FAILED;
    }
    float lam = m->stages_done ? m->lambda : 0;
    double last = 0;
    for (int ep = 0; ep < s->block_size; ep++) {
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(next(&m->rng) % (uint64_t)(i + 1)), k = order[i];
            order[i] = order[j], order[j] = k;
        }
        for (int b0 = 0; b0 < n; b0 += m->batch) {
            int nb = n - b0 < m->batch ? n - b0 : m->batch;
            memset(m->g, 0, sizeof(float) * (size_t)m->nw);
            double loss = 0;
            for (int e = 0; e < nb; e++) {
                int i = order[b0 + e];
                loss += backward(m, t->x_train + (long)i * m->in, t->y_train[i], t);
            }
            last = loss / nb;
            if (!isfinite(last)) {
                free(order);
                return CLSWEEP_DIVERGED;
            }
            for (long k = 0; k < m->nw; k++)
                m->w[k] -= m->lr * (m->g[k] / (float)nb + lam * (m->w[k] - m->prev[k]));
            m->h->step(r);   /* ABI 2: one optimiser step (the anytime curve's clock) */
        }
    }
    free(order);
    memcpy(m->prev, m->w, sizeof(float) * (size_t)m->nw);
    m->stages_done++;
    m->h->scalar(r, "last_loss", last);
    return CLSWEEP_OK;
}

static double evaluate(void *mm, clsweep_run *r, const clsweep_stream *s, int ti) {
    (void)r;
    l2mlp *m = mm;
    const clsweep_task *t = &s->tasks[ti];
    int right = 0;
    for (int i = 0; i < t->n_test; i++) {
        forward(m, t->x_test + (long)i * m->in);
        softmax(m, t);
        int best = 0;
        for (int k = 1; k < m->out; k++)
            if (m->obuf[k] > m->obuf[best]) best = k;
        right += best == t->y_test[i];
    }
    return t->n_test ? (double)right / t->n_test : 0.0;
}

static void release(void *mm) {
    l2mlp *m = mm;
    if (!m) return;
    free(m->w), free(m->prev), free(m->g), free(m->hbuf), free(m->obuf);
    free(m);
}

static double cost(const clsweep_host *h, const clsweep_run *r) {
    return (double)h->get_int(r, "hidden", 64) / 64.0;
}

static const clsweep_param params[] = {
    {"hidden", CLSWEEP_INT, "64", 1, 4096, "hidden units"},
    {"lr", CLSWEEP_FLOAT, "0.05", 0, 10, "SGD step size"},
    {"batch", CLSWEEP_INT, "32", 1, 4096, "examples per step"},
    {"lambda", CLSWEEP_FLOAT, "1", 0, 1e6, "weight of the L2 pull to the previous weights"},
};

static const clsweep_plugin l2mlp_plugin = {
    .abi = CLSWEEP_PLUGIN_ABI,
    .size = sizeof(clsweep_plugin),
    .name = "l2mlp",
    .version = "1",
    .kinds = CLSWEEP_KIND_CLASSIFICATION,
    .params = params,
    .nparams = (int)(sizeof params / sizeof params[0]),
    .cost = cost,
    .init = init,
    .train_stage = train_stage,
    .evaluate = evaluate,
    .free = release,
};

CLSWEEP_PLUGIN_EXPORT(l2mlp_plugin)
