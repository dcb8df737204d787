# A PyTorch reimplementation of plain (online) EWC as an external-program model for clsweep,
# to compare with the built-in `ewc` on the same stream (docs/extending.md). It mirrors the
# built-in defaults: MLP in→256→256→out ReLU, SGD lr 0.05, batch 32, block_size epochs per
# stage, empirical diagonal Fisher from fisher_samples single examples after each block,
# online decay gamma, and the proximal penalty step θ ← θ* + (θ − θ*)/(1 + lr·λ·F) after
# each optimiser step. Initialisation and batch order are PyTorch's, seeded from the run seed.
import torch
from clsweep_client import stream, config, load, report

s, cfg = stream(), config()
lam, gamma, nfish = cfg["torch_ewc.lambda"], cfg["torch_ewc.gamma"], cfg["torch_ewc.fisher_samples"]
lr, batch = cfg["torch_ewc.lr"], cfg["torch_ewc.batch_size"]
torch.manual_seed(cfg["seed"])
torch.set_num_threads(1)
C, D = s["out_dim"], s["in_dim"]
net = torch.nn.Sequential(torch.nn.Linear(D, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                          torch.nn.ReLU(), torch.nn.Linear(256, C))
opt = torch.optim.SGD(net.parameters(), lr=lr)
params = list(net.parameters())
fisher = [torch.zeros_like(p) for p in params]
anchor = None
data = []
for t in s["tasks"]:
    m = torch.full((C,), float("-inf"))
    m[t["classes"] if t["class_mask"] else list(range(C))] = 0
    data.append([torch.from_numpy(load(t[k])).reshape(t["n_" + k[:-2].split("_")[0]], -1)
                 if k.endswith("x") else torch.from_numpy(load(t[k]))
                 for k in ("train_x", "train_y", "test_x", "test_y")] + [m])


def evaluate():
    with torch.no_grad():
        return [float(((net(xt) + m).argmax(1) == yt).float().mean()) for _, _, xt, yt, m in data]


report(-1, evaluate())
g = torch.Generator().manual_seed(cfg["seed"])
for stage, t in enumerate(s["stage_task"]):
    x, y, _, _, m = data[t]
    for _ in range(s["block_size"]):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]) + m, y[idx]).backward()
            opt.step()
            if anchor is not None and lam:
                with torch.no_grad():
                    for p, a, f in zip(params, anchor, fisher):
                        p.copy_(a + (p - a) / (1 + lr * lam * f))
    # consolidate: online Fisher
    acc = [torch.zeros_like(p) for p in params]
    for i in torch.randint(len(y), (nfish,), generator=g).tolist():
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x[i:i + 1]) + m, y[i:i + 1]).backward()
        for a, p in zip(acc, params):
            a += p.grad ** 2
    fisher = [gamma * f + a / nfish for f, a in zip(fisher, acc)]
    anchor = [p.detach().clone() for p in params]
    report(stage, evaluate())
