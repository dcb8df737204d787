# A stdlib-only external-program model for tests/t_files_tasks.sh: checks that the task stream
# clsweep hands it is the user's files benchmark (shapes, classes, and every example with its
# label found in the task's own data file), then learns by nearest class mean.
# Reports X stream_ok 1 when every check passed; exits 3 (the run fails) on the first mismatch.
import struct
import sys

from clsweep_client import stream, config, load, report, extra

s, cfg = stream(), config()


def fail(why):
    sys.stderr.write("stream mismatch: " + why + "\n")
    sys.exit(3)


def read_npy(path):
    """(shape, flat list) of a uint8 or int64 .npy file (the test writes both)."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            fail(path + ": not .npy")
        major = f.read(2)[0]
        hl = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        hdr = eval(f.read(hl).decode("latin1"), {"__builtins__": {}}, {"True": True, "False": False})
        data = f.read()
    shape = tuple(hdr["shape"])
    if hdr["descr"] == "|u1":
        return shape, list(data)
    if hdr["descr"] == "<i8":
        return shape, list(struct.unpack("<%dq" % (len(data) // 8), data))
    fail(path + ": unexpected dtype " + hdr["descr"])


def paths(key):
    v = cfg[key].strip()
    return [p.strip() for p in v[1:-1].split(",")] if v.startswith("[") else [v]


H, W, C = (int(v) for v in cfg["ncm.hwc"].split("x"))
if s["x_shape"] != [C, H, W] or s["in_dim"] != C * H * W:
    fail("x_shape %r in_dim %r" % (s["x_shape"], s["in_dim"]))
files = {k: paths("benchmark.%s" % k) for k in ("train.x", "train.y", "test.x", "test.y")}
local = cfg.get("benchmark.task_labels") == "local"
T = s["ntasks"]
if len(files["train.x"]) != T:
    fail("%d tasks, %d files" % (T, len(files["train.x"])))

data = {}   # (task, split) → (xs as lists of floats in CHW order, labels)
off = 0
for t in range(T):
    task = s["tasks"][t]
    known = {}   # example bytes (CHW) → global label, from the user's files
    offs = off
    for split in ("train", "test"):
        (n, h, w, c), xb = read_npy(files[split + ".x"][t])
        _, yb = read_npy(files[split + ".y"][t])
        if (h, w, c) != (H, W, C):
            fail("file shape")
        for i in range(n):
            chw = bytes(xb[i * h * w * c + (p * c + ch)] for ch in range(c) for p in range(h * w))
            known[chw] = yb[i] + (offs if local else 0)
    if local:
        off += 1 + max(read_npy(files["train.y"][t])[1])
    want = sorted(set(known.values()))
    if task["classes"] != want or task["class_mask"] is not True:
        fail("task %d classes %r, files have %r" % (t, task["classes"], want))
    for split in ("train", "test"):
        shape, x = load(task[split + "_x"], raw=True)
        _, y = load(task[split + "_y"], raw=True)
        n = shape[0]
        if shape != (n, C, H, W) or n != task["n_" + split] or len(y) != n:
            fail("task %d %s shape %r" % (t, split, shape))
        d = C * H * W
        xs = []
        for i in range(n):
            v = x[i * d:(i + 1) * d]
            key = bytes(int(round(e * 255)) for e in v)
            if known.get(key) != y[i]:
                fail("task %d %s example %d (label %d) is not in the task's files" % (t, split, i, y[i]))
            xs.append(v)
        data[t, split] = (xs, list(y))

means = {}   # class → mean input (nearest class mean over the classes seen)


def evaluate():
    row = []
    for t in range(T):
        xs, ys = data[t, "test"]
        cand = [c for c in s["tasks"][t]["classes"] if c in means]
        if not cand:
            row.append(0.0)
            continue
        right = 0
        for v, l in zip(xs, ys):
            best = min(cand, key=lambda c: sum((a - b) ** 2 for a, b in zip(v, means[c])))
            right += best == l
        row.append(right / len(ys))
    return row


report(-1, evaluate())
for stage, t in enumerate(s["stage_task"]):
    xs, ys = data[t, "train"]
    for c in set(ys):
        rows = [v for v, l in zip(xs, ys) if l == c]
        means[c] = [sum(col) / len(rows) for col in zip(*rows)]
    report(stage, evaluate())
extra("stream_ok", 1)
