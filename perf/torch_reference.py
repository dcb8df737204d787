#!/usr/bin/env python3
"""torch_reference.py — the clsweep model suite's training steps written as a PyTorch user
would write them, for the ratio clsweep/PyTorch in `make bench` (perf/run.sh).

One thread (torch.set_num_threads(1), OMP/OpenBLAS/MKL threads 1), float32, eager mode,
the same architectures, losses, optimisers and batch sizes as clsweep's perf programs
(perf/perf_*.c), on synthetic inputs of the same shapes (timing does not depend on the
values). Each measurement: a short warm-up, then the best of 3 repetitions, each stopping
after 0.5 s on the clock or the C program's step count. Prints lines
"name | value | unit | notes", like the C perf programs.

Timing clock: --clock cpu (default) is process CPU time (time.process_time, the clock
perf/run.sh also gives the C programs on a shared machine); --clock wall is wall time.

Where this is not what clsweep computes (docs/performance.md lists these):
  ewgn   dense: every pixel's generated weights are computed (clsweep's batch-1 step skips
         the zero pixels exactly); the EWC penalty is stepped by its gradient, the usual
         PyTorch way (clsweep: lazy proximal step);
  pah    the previous model's heads and its outputs on its own prototypes are cached once
         per stage, as clsweep does;
  hsf    each DynamicLinear's weights are generated once per batch (one embedding row), as
         clsweep does; the authors' code expands the embedding to the batch and generates
         per-sample weights (measured separately as hsf_authors).
Usage: torch_reference.py [--clock cpu|wall] [--only NAME[,NAME...]] [--quick]
"""
import argparse
import math
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
torch.manual_seed(0)

CLOCK = time.process_time
QUICK = False
MIN_SECONDS = 0.5   # per repetition, on CLOCK


def best_rate(step, units_per_call, calls, reps=3, warm=5):
    """Best units/s over reps repetitions of at least MIN_SECONDS (and at most `calls`
    calls) of step() each."""
    for _ in range(warm):
        step()
    best = 0.0
    for _ in range(reps):
        t0 = CLOCK()
        n = 0
        while n < calls:
            step()
            n += 1
            if n % 8 == 0 and CLOCK() - t0 >= MIN_SECONDS:
                break
        dt = CLOCK() - t0
        if dt > 0:
            best = max(best, n * units_per_call / dt)
    return best


def row(name, value, unit, notes):
    print(f"{name} | {value:.1f} | {unit} | {notes}", flush=True)


# ---------------------------------------------------------------- finetune / ewc MLP

def bench_mlp():
    for B, steps in ((1, 3000), (64, 200)):
        if QUICK:
            steps //= 10
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.rand(B, 784)
        y = torch.arange(B) % 10

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        sps = best_rate(step, B, steps)
        row(f"torch_mlp_b{B}", sps, "samples/s",
            f"784-256-256-10 ReLU, softmax CE, SGD lr 0.01, batch {B}")


# ---------------------------------------------------------------- ewgn (SPEC 4.3)

class EWGN(nn.Module):
    """WGN 784 -> 32 -> 784*20, g = exp(-z^2); logits = W(x) x + b."""

    def __init__(self, D=784, H=32, C=20):
        super().__init__()
        self.D, self.C = D, C
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, D * C)
        self.b = nn.Parameter(torch.zeros(C))

    def forward(self, x):
        z = self.l2(F.relu(self.l1(x)))
        W = torch.exp(-z * z).view(-1, self.C, self.D)
        return torch.bmm(W, x.unsqueeze(2)).squeeze(2) + self.b


def bench_ewgn():
    for B, ewc, steps in ((1, False, 1500), (1, True, 1500), (32, False, 4000), (32, True, 4000)):
        if QUICK:
            steps //= 10
        m = EWGN()
        opt = torch.optim.SGD(m.parameters(), lr=0.005)
        x = torch.rand(B, 784)
        y = torch.arange(B) % 10
        wgn = [m.l1.weight, m.l1.bias, m.l2.weight, m.l2.bias]
        fisher = [torch.rand_like(p) * 1e-4 for p in wgn]
        anchor = [p.detach().clone() for p in wgn]
        lam = 10000.0

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            if ewc:
                pen = sum((f * (p - a) ** 2).sum() for f, p, a in zip(fisher, wgn, anchor))
                loss = loss + 0.5 * lam * pen
            loss.backward()
            opt.step()

        sps = best_rate(step, B, max(1, steps // B))
        tag = f"torch_ewgn_b{B}" + ("_ewc" if ewc else "")
        row(tag, sps, "samples/s",
            f"WGN 784-32-15680 gaussian, bmm, SGD lr 0.005, batch {B}" +
            (", EWC penalty (gradient) on the WGN" if ewc else ""))


# ---------------------------------------------------------------- gated (SPEC 4.4)

def bench_gated():
    din, dout, P, B = 20, 10, 2, 200
    q, _ = torch.linalg.qr(torch.randn(din, din))
    teachers = [q[i * dout:(i + 1) * dout] / math.sqrt(din) for i in range(2)]
    xt = torch.randn(1000, din)
    tests = [(xt, xt @ t.T) for t in teachers]
    dt, tau_w, tau_c, s = 1e-3, 1.3, 0.03, 0.1
    W = (torch.randn(P, dout, din) * 0.01 / math.sqrt(din)).requires_grad_()
    c = torch.full((P,), 0.5, requires_grad=True)

    def reg(cv):
        r_nonneg = 10.0 * F.relu(-cv).sum()
        r_l1 = 10.0 * 0.5 * (cv.abs().sum() - 1.0) ** 2
        return (1.0 * r_nonneg + 10.0 * r_l1) / 11.0

    def forward(x):
        weff = (c[:, None, None] * W).sum(0)
        return x @ weff.T

    def step(task=0):
        x = torch.randn(B, din)
        y = x @ teachers[task].T
        loss = 0.5 * ((forward(x) - y) ** 2).sum(1).mean() + s * reg(c)
        W.grad = None
        c.grad = None
        loss.backward()
        with torch.no_grad():
            W.sub_(W.grad, alpha=dt / tau_w)
            c.sub_(c.grad, alpha=dt / tau_c)
        return loss

    def run(blocks=4, bs=1000):
        for blk in range(blocks):
            for _ in range(bs):
                step(blk % 2)
            with torch.no_grad():
                for xe, ye in tests:
                    float(0.5 * ((forward(xe) - ye) ** 2).sum(1).mean())

    blocks, bs = (4, 1000) if not QUICK else (2, 100)
    for _ in range(50):
        step()
    best = 0.0
    for _ in range(3):
        t0 = CLOCK()
        run(blocks, bs)
        best = max(best, blocks * bs / (CLOCK() - t0))
    row("torch_gated_ts", best, "steps/s",
        f"P=2, 20->10, batch 200: randn batch, teacher product, gated layer, autograd, "
        f"Euler update; {blocks}x{bs} steps + test MSE after each block")
    row("torch_teacher_sample", best_rate(lambda: torch.randn(B, din) @ teachers[0].T, 1,
                                          2000 if not QUICK else 200),
        "batches/s", "torch.randn(200, 20) + teacher product")


# ---------------------------------------------------------------- pah (SPEC 4.5)

class PAH(nn.Module):
    def __init__(self, T=5, C=2, F_=64, ph=10, pw=10, hid=16, c1=8, c2=16, H=28, W=28):
        super().__init__()
        self.T, self.C, self.F, self.ph, self.pw, self.H, self.W = T, C, F_, ph, pw, H, W
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * (H // 4) * (W // 4), F_)
        self.h1 = nn.Linear(C * ph * pw, hid, bias=False)
        self.h2 = nn.Linear(hid, hid, bias=False)
        self.h3 = nn.Linear(hid, C * F_, bias=False)
        self.protos = nn.Parameter(0.5 + 0.1 * torch.randn(T, C, ph, pw))

    def backbone(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def heads(self):
        e = self.protos.flatten(1)
        a = F.leaky_relu(self.h2(F.leaky_relu(self.h1(e))))
        return self.h3(a).view(self.T, self.C, self.F)

    def proto_images(self, j):
        return F.interpolate(self.protos[j].unsqueeze(1), size=(self.H, self.W),
                             mode="bilinear", align_corners=False)


def kd(s, t, T=2.0):
    """T^2 KL(softmax(s/T) || softmax(t/T)), student first (as the PAH code), batch mean."""
    return T * T * F.kl_div(F.log_softmax(t / T, 1), F.softmax(s / T, 1), reduction="batchmean")


def bench_pah():
    B = 64
    for task, shape in ((0, 10), (4, 10), (4, 20)):
        m = PAH(ph=shape, pw=shape)
        prev = PAH(ph=shape, pw=shape)
        prev.load_state_dict(m.state_dict())
        for p in prev.parameters():
            p.requires_grad_(False)
        backbone = [*m.conv1.parameters(), *m.conv2.parameters(), *m.fc.parameters()]
        opt = torch.optim.AdamW([{"params": backbone, "lr": 1e-4},
                                 {"params": [m.h1.weight, m.h2.weight, m.h3.weight], "lr": 1e-3},
                                 {"params": [m.protos], "lr": 1e-3}], weight_decay=0.01)
        opt_p = torch.optim.AdamW([m.protos], lr=1e-3, weight_decay=0.01)
        old = list(range(task))
        x = torch.rand(B, 1, 28, 28)
        y = torch.arange(B) % 2
        with torch.no_grad():   # cached once per stage, as clsweep's pah_teacher_cache
            theads = prev.heads()
            tproto = {j: prev.backbone(prev.proto_images(j)) @ theads[j].T for j in old}

        def step():
            opt.zero_grad()
            heads = m.heads()
            feat = m.backbone(x)
            loss = F.cross_entropy(feat @ heads[task].T, y)
            if old:
                with torch.no_grad():
                    tfeat = prev.backbone(x)
                for j in old:
                    loss = loss + 0.5 * kd(feat @ heads[j].T, tfeat @ theads[j].T)
            loss.backward()
            opt.step()
            # step 2: prototypes only; no zero_grad in between (the original code's quirk)
            if old:
                heads = m.heads()
                f = m.backbone(torch.cat([m.proto_images(j) for j in old]))
                l2 = 0.0
                for i, j in enumerate(old):
                    l2 = l2 + kd(f[i * m.C:(i + 1) * m.C] @ heads[j].T, tproto[j])
                (1.0 * l2).backward()
            opt_p.step()

        bps = best_rate(step, 1, 30 if not QUICK else 5, warm=3)
        row(f"torch_pah_t{task}_p{shape}", bps, "batches/s",
            f"batch 64, task {task} ({len(old)} old), proto {shape}x{shape}: CNN 8/16, F 64, "
            f"hypernet 16, step 1 + step 2 (AdamW)")


# ---------------------------------------------------------------- hsf (SPEC 4.6)

class Hyper(nn.Module):
    def __init__(self, E, n_in, n_out):
        super().__init__()
        h = (E + n_in * n_out) // 4
        self.n_in, self.n_out = n_in, n_out
        self.wg = nn.Sequential(nn.Linear(E, h), nn.ReLU(), nn.Linear(h, n_in * n_out))
        self.bg = nn.Sequential(nn.Linear(E, h // 2), nn.ReLU(), nn.Linear(h // 2, n_out))

    def forward(self, e):
        if e.dim() == 2:   # authors' form: one generated layer per sample
            return (self.wg(e).view(-1, self.n_out, self.n_in), self.bg(e))
        return self.wg(e).view(self.n_out, self.n_in), self.bg(e)


def dyn_linear(x, w, b):
    if w.dim() == 3:
        return torch.baddbmm(b.unsqueeze(1), x.unsqueeze(1), w.transpose(1, 2)).squeeze(1)
    return F.linear(x, w, b)


class Coupling(nn.Module):
    def __init__(self, D, Hf=64):
        super().__init__()
        self.half = D // 2
        self.net = nn.Sequential(nn.Linear(self.half, Hf), nn.ReLU(), nn.Linear(Hf, D - self.half),
                                 nn.Tanh())
        self.scale = nn.Parameter(0.01 * torch.randn(D - self.half))

    def forward(self, z):
        z1, z2 = z[:, :self.half], z[:, self.half:]
        st = self.net(z1)
        log_s = self.scale * st
        u2 = (z2 + st) * torch.exp(log_s)
        return torch.cat([u2, z1], 1), log_s.sum(1)   # coupling, then the swap of halves


class SDE(nn.Module):
    def __init__(self, D, H=64):
        super().__init__()

        def net():
            return [nn.Linear(D, H), nn.Tanh(), nn.Linear(H, H), nn.Tanh(), nn.Linear(H, D)]
        self.drift = nn.Sequential(*net())
        self.diff = nn.Sequential(*net(), nn.Sigmoid())

    def forward(self, z, t, steps=10):
        dt = t / steps
        for _ in range(steps):
            dW = torch.randn_like(z) * math.sqrt(dt)
            z = z + self.drift(z) * dt + self.diff(z) * dW
        return z


class HSF(nn.Module):
    def __init__(self, n_in=3, H=64, D=24, E=16, T=5, per_sample=False):
        super().__init__()
        self.D, self.per_sample = D, per_sample
        self.emb = nn.Parameter(0.02 * torch.randn(T, E))
        self.enc1, self.enc2 = Hyper(E, n_in, H), Hyper(E, H, H)
        self.to_latent = nn.Linear(H, D)
        self.flow = nn.ModuleList([Coupling(D) for _ in range(4)])
        self.sde_enc, self.sde_dec = SDE(D), SDE(D)
        self.dec1 = Hyper(E, D, H)
        self.dec2 = nn.Linear(H, n_in)

    def e(self, t, B):
        return self.emb[t].unsqueeze(0).expand(B, -1) if self.per_sample else self.emb[t]

    def decode(self, zD, t):
        w, b = self.dec1(self.e(t, zD.shape[0]))
        return self.dec2(F.gelu(dyn_linear(zD, w, b)))

    def loss(self, x, t, beta, memory=None):
        B = x.shape[0]
        w1, b1 = self.enc1(self.e(t, B))
        w2, b2 = self.enc2(self.e(t, B))
        z0 = self.to_latent(F.gelu(dyn_linear(F.gelu(dyn_linear(x, w1, b1)), w2, b2)))
        u, logdet = z0, 0.0
        for layer in self.flow:
            u, ld = layer(u)
            logdet = logdet + ld
        nll = -(-0.5 * (u * u).sum(1) - 0.5 * self.D * math.log(2 * math.pi) + logdet).mean()
        xr = self.decode(self.sde_dec(self.sde_enc(z0, 1.0), 0.5), t)
        loss = F.mse_loss(xr, x) + beta * nll
        for tp in range(t):
            loss = loss + 1.5 * torch.exp(-torch.norm(self.emb[t] - self.emb[tp]))
        if memory is not None:   # one SDE over all stored pairs, one generated layer per task
            mx, mz, mt = memory
            zD = self.sde_dec(mz, 0.5)
            parts = []
            for tid in sorted(set(mt.tolist())):
                idx = (mt == tid).nonzero().squeeze(1)
                w, b = self.dec1(self.emb[tid])
                parts.append(dyn_linear(zD[idx], w, b))
            rep = F.mse_loss(self.dec2(F.gelu(torch.cat(parts))), mx)
            loss = loss + 2.0 * rep
        return loss


def curves(task, n=300):
    x = torch.linspace(-4, 4, n)
    cols = [[torch.sin(x), torch.cos(x), x * x / 16],
            [torch.exp(-x * x), torch.tanh(2 * x), torch.sin(2 * x)]][task]
    return torch.stack(cols, 1)


def bench_hsf(variants):
    for name, task, per_sample in variants:
        m = HSF(per_sample=per_sample)
        opt = torch.optim.AdamW(m.parameters(), lr=5e-4)
        x = curves(task)
        mem = None
        if task > 0:
            k = torch.randperm(300)[:32]
            mem = (curves(0)[k], torch.randn(32, 24), torch.zeros(32, dtype=torch.long))
        epoch = [0]

        def step():
            e = epoch[0]
            epoch[0] += 1
            opt.zero_grad()
            beta = min(1.0, 0.01 + 0.99 * e / 300)
            m.loss(x, task, beta, mem if (mem is not None and e % 5 == 0) else None).backward()
            opt.step()

        n = 20 if per_sample else 60
        eps = best_rate(step, 1, n if not QUICK else 10, warm=5)
        notes = {"torch_hsf": "task 0, full batch 300, no replay, AdamW lr 5e-4",
                 "torch_hsf_replay": "task 1: + replay of 32 stored pairs every 5th epoch",
                 "torch_hsf_authors": "task 0, the authors' formulation: per-sample generated "
                                      "weights (embedding expanded to the batch, baddbmm)"}[name]
        row(name, eps, "epochs/s", notes)


def main():
    global CLOCK, QUICK, MIN_SECONDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--only", default="", help="comma-separated: mlp,ewgn,gated,pah,hsf,hsf_authors")
    ap.add_argument("--quick", action="store_true", help="a tenth of the steps (smoke test)")
    a = ap.parse_args()
    CLOCK = time.process_time if a.clock == "cpu" else time.perf_counter
    QUICK = a.quick
    if QUICK:
        MIN_SECONDS = 0.1
    only = set(filter(None, a.only.split(",")))
    want = lambda k: not only or k in only  # noqa: E731
    print(f"torch_version | {0:.1f} | - | torch {torch.__version__}, {torch.get_num_threads()} "
          f"thread, clock {a.clock}", flush=True)
    if want("mlp"):
        bench_mlp()
    if want("ewgn"):
        bench_ewgn()
    if want("gated"):
        bench_gated()
    if want("pah"):
        bench_pah()
    hv = []
    if want("hsf"):
        hv += [("torch_hsf", 0, False), ("torch_hsf_replay", 1, False)]
    if want("hsf_authors"):
        hv += [("torch_hsf_authors", 0, True)]
    if hv:
        bench_hsf(hv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
