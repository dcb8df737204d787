# A stdlib-only external-program model for tests/t_external.sh: predicts, for every task, the
# most frequent training label among the tasks seen so far (a deterministic "method").
# prior.mode selects a misbehaviour: ok, crash, hang, garbage, shape, nan. Optional (declared
# by tests/t_prune_external.sh only): prior.trace, a directory where the program appends one
# line per stage it trained (to <trace>/<bonus>.trace), and prior.sleep, seconds per stage.
import os
import sys
import time
from collections import Counter
from clsweep_client import stream, config, load, report, extra, loss

s, cfg = stream(), config()
mode = cfg["prior.mode"]
print("hello from the program; this print must not corrupt the report")
seen = Counter()
T = s["ntasks"]


def evaluate():
    row = []
    for t in range(T):
        _, y = load(s["tasks"][t]["test_y"], raw=True)
        guess = seen.most_common(1)[0][0] if seen else -1
        row.append(sum(1 for v in y if v == guess) / len(y) + cfg["prior.bonus"])
    return row


report(-1, evaluate())
for stage, t in enumerate(s["stage_task"]):
    _, y = load(s["tasks"][t]["train_y"], raw=True)
    seen.update(y)
    loss(stage, 0, 1.0)
    if mode == "crash" and stage == 1:
        sys.exit(3)
    if mode == "hang" and stage == 1:
        while True:
            pass
    if mode == "garbage" and stage == 1:
        import os
        with open(os.environ["CLSWEEP_REPORT"], "a") as f:
            f.write("R 1 what is this\n")
        sys.exit(0)
    row = evaluate()
    if mode == "shape" and stage == 1:
        row = row[:-1]
    if mode == "nan" and stage == 1:
        row[0] = float("nan")
    report(stage, row)
    if cfg.get("prior.trace"):
        with open(os.path.join(cfg["prior.trace"], "%g.trace" % cfg["prior.bonus"]), "a") as f:
            f.write("stage %d\n" % stage)
    time.sleep(cfg.get("prior.sleep", 0))
extra("classes_seen", len(seen))
