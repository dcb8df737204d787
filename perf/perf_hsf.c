/* perf_hsf.c — speed of the hsf model (docs/spec.md §4.6) on one core: full-batch training epochs
 * per second on curves3d (300 rows; with and without the replay step), the cost of the
 * parts of one step, and the MLP autoencoder baseline for scale. Times are process CPU
 * seconds (one BLAS thread), so a machine shared with other jobs still measures the code.
 * Prints "name | value | unit | notes" lines; measures, never asserts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsf.h"
#include "model.h"
#include "optim.h"
#include "util.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

static void make_cfg(run_config *c, const char *model, int replay) {
    cfg_init(c);
    if (!replay && !strcmp(model, "hsf")) cfg_set(c, "hsf.memory_per_task", "0");
    if (cfg_fill_defaults(c, model, "curves3d")) {
        fprintf(stderr, "%s\n", cls_geterr());
        exit(1);
    }
    cfg_project(c, model, "curves3d");
}

/* Epochs per second of model `name` training `epochs` epochs of stage `stage` after the
 * stages before it and stage `stage` itself were trained `warm` epochs each (warm caches
 * and optimiser state; with replay, a memory of the earlier tasks). */
static double epochs_per_s(const char *name, int stage, int warm, int epochs, int replay) {
    run_config c;
    make_cfg(&c, name, replay);
    bench_t b;
    if (bench_init(&b, &c, 0)) {
        fprintf(stderr, "%s\n", cls_geterr());
        exit(1);
    }
    const model_ops *ops = model_find(name);
    model_t *m = ops->init(&c, &b, 0);
    b.block_size = warm;
    for (int s = 0; s <= stage; s++) ops->train_block(m, &b, s);
    b.block_size = epochs;
    double t0 = cls_cputime();
    ops->train_block(m, &b, stage);
    double dt = cls_cputime() - t0;
    ops->free(m);
    bench_free(&b);
    cfg_free(&c);
    return epochs / dt;
}

int main(void) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    double e0 = epochs_per_s("hsf", 0, 5, 60, 0);
    double e1 = epochs_per_s("hsf", 1, 5, 60, 1);
    printf("hsf_epochs_per_s | %.1f | epochs/s | full batch 300, no replay, AdamW on all parameters (CPU time)\n", e0);
    printf("hsf_epochs_per_s_replay | %.1f | epochs/s | task 1: + replay of 32 stored pairs every 5th epoch\n", e1);
    printf("hsf_run_estimate | %.1f | s | 5 tasks x 300 epochs (the paper's run), training only\n",
           300.0 / e0 + 1200.0 / e1);

    /* the parts of one step on the paper-size network */
    hsf_dims d = {.in_dim = 3, .hidden = 64, .latent = 24, .emb_dim = 16, .ntasks = 5,
                  .flow_layers = 4, .flow_hidden = 64, .sde_hidden = 64, .sde_steps = 10,
                  .enc_t = 1.0f, .dec_t = 0.5f};
    hsf_net n;
    if (hsf_net_init(&n, &d, 300, 32, 1)) {
        fprintf(stderr, "%s\n", cls_geterr());
        return 1;
    }
    printf("hsf_parameters | %ld | floats | %.1f MB of parameters (enc2's weight generator is 1028 x 4096)\n",
           n.L.nparams, n.L.nparams * 4e-6);
    static float x[300 * 3];
    rng_t r;
    rng_init(&r, 5, 0);
    rng_fill_normal(&r, x, 900, 0, 1);
    optim_t o;
    optim_init(&o, OPTIM_ADAMW, n.L.nparams, 5e-4f);
    const int reps = 30;
    double t_noise = 0, t_fb = 0, t_zero = 0, t_adam = 0, t_fwd = 0;
    for (int i = 0; i < reps; i++) {
        double t = cls_cputime();
        memset(n.grads, 0, sizeof(float) * (size_t)n.L.nparams);
        t_zero += cls_cputime() - t;
        t = cls_cputime();
        hsf_sde_noise(&n.sb_enc, &n.L.sde_enc, &r, 1.0f, 1.0f, 300);
        hsf_sde_noise(&n.sb_dec, &n.L.sde_dec, &r, 0.5f, 1.0f, 300);
        t_noise += cls_cputime() - t;
        t = cls_cputime();
        hsf_net_forward(&n, x, 300, 1, 1);
        t_fwd += cls_cputime() - t;
        t = cls_cputime();
        hsf_net_task_loss(&n, x, 300, 1, 0.5f, 1.5f, 1, NULL);
        t_fb += cls_cputime() - t;
        t = cls_cputime();
        optim_step(&o, n.params, n.grads);
        t_adam += cls_cputime() - t;
    }
    printf("hsf_step_forward | %.2f | ms | reconstruction + flow forward, 300 rows (2 SDEs x 10 steps)\n", 1e3 * t_fwd / reps);
    printf("hsf_step_loss_fwd_bwd | %.2f | ms | composite loss forward + backward through all steps\n", 1e3 * t_fb / reps);
    printf("hsf_step_noise | %.2f | ms | Brownian increments for both SDEs (144k normals)\n", 1e3 * t_noise / reps);
    printf("hsf_step_zero_grad | %.2f | ms | memset of the gradient arena\n", 1e3 * t_zero / reps);
    printf("hsf_step_adamw | %.2f | ms | AdamW over every parameter\n", 1e3 * t_adam / reps);
    optim_free(&o);
    /* the model's path (fused mode, hsf_net_fuse_optim): the hypernetworks' w2 blocks are
     * updated from their rank-1 gradients by optim_step_outer, the rest by AdamW, grads
     * come back zeroed (no separate zero_grad) */
    optim_init(&o, OPTIM_ADAMW, n.L.nparams, 5e-4f);
    hsf_net_fuse_optim(&n, &o);
    memset(n.grads, 0, sizeof(float) * (size_t)n.L.nparams);
    double t_ffb = 0, t_fstep = 0;
    for (int i = 0; i < reps; i++) {
        hsf_sde_noise(&n.sb_enc, &n.L.sde_enc, &r, 1.0f, 1.0f, 300);
        hsf_sde_noise(&n.sb_dec, &n.L.sde_dec, &r, 0.5f, 1.0f, 300);
        double t = cls_cputime();
        hsf_net_task_loss(&n, x, 300, 1, 0.5f, 1.5f, 1, NULL);
        t_ffb += cls_cputime() - t;
        t = cls_cputime();
        hsf_net_step(&n, &o);
        t_fstep += cls_cputime() - t;
    }
    printf("hsf_step_loss_fwd_bwd_fused | %.2f | ms | the same, fused mode: the w2 blocks' backward is left to the update\n",
           1e3 * t_ffb / reps);
    printf("hsf_step_update_fused | %.2f | ms | fused mode: outer-product AdamW of the w2 blocks (with their backward product) + AdamW of the rest + zeroing its grads\n",
           1e3 * t_fstep / reps);
    optim_free(&o);
    hsf_net_free(&n);

    double em = epochs_per_s("finetune", 0, 5, 300, 0);
    printf("mlp_autoencoder_epochs_per_s | %.0f | epochs/s | finetune on curves3d (3-64-64-24-64-64-3), for scale\n", em);
    return 0;
}
