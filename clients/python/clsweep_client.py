"""clsweep_client — the stdlib-only client (Python ≥ 3.6) of an external-program model (docs/extending.md).

clsweep starts the program with CLSWEEP_STREAM (the stream.json manifest of the run's task
stream), CLSWEEP_CONFIG (the resolved run configuration, JSON) and CLSWEEP_REPORT (the report
file; prints to stdout/stderr go to a log and cannot corrupt it) and puts this directory on
PYTHONPATH.

    from clsweep_client import stream, config, report, load
    s, cfg = stream(), config()
    report(-1, [metric of each task before training])      # optional
    for stage, t in enumerate(s["stage_task"]):
        x = load(s["tasks"][t]["train_x"]) ...              # numpy array if numpy exists
        report(stage, [metric of every task])

Batch order and any shuffling are the program's (seed it from cfg["seed"]); the data subsets
and task order are clsweep's, identical to the built-in models'.
"""
import json
import math
import os
import struct
import array

_DIR = None


def stream():
    """The manifest (dict); task file names are made absolute."""
    global _DIR
    path = os.environ["CLSWEEP_STREAM"]
    _DIR = os.path.dirname(path)
    with open(path) as f:
        m = json.load(f)
    for t in m["tasks"]:
        for k in ("train_x", "train_y", "test_x", "test_y"):
            if k in t:
                t[k] = os.path.join(_DIR, t[k])
    return m


def config():
    """The resolved run configuration (dict of dotted keys)."""
    with open(os.environ["CLSWEEP_CONFIG"]) as f:
        return json.load(f)


def load(path, raw=False):
    """A .npy file as a numpy array when numpy is importable (and raw is false), else
    (shape, array.array) read with the standard library only."""
    if not raw:
        try:
            import numpy
            return numpy.load(path)
        except ImportError:
            pass
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ValueError(path + ": not a .npy file")
        major = f.read(2)[0]
        hl = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        hdr = eval(f.read(hl).decode("latin1"), {"__builtins__": {}}, {"True": True, "False": False})
        code = {"<f4": "f", "<i8": "q"}[hdr["descr"]]
        a = array.array(code)
        a.frombytes(f.read())
        return tuple(hdr["shape"]), a


def _write(line):
    with open(os.environ["CLSWEEP_REPORT"], "a") as f:
        f.write(line + "\n")


def report(stage, row):
    """The metric of every task after stage (stage -1: before training)."""
    _write("R %d %s" % (stage, " ".join(repr(float(v)) for v in row)))


def extra(name, value):
    """A scalar result named ext_<name> in the results."""
    _write("X %s %r" % (name, float(value)))


def loss(stage, step, value):
    """A training loss (checked; counted)."""
    _write("L %d %d %r" % (stage, step, float(value)))
