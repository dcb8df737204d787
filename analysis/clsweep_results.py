"""clsweep_results.py — reading clsweep sweep files (NetCDF) for the analysis scripts.

One or more sweep files become a `Runs` object: a pandas table with one row per model run
(run_id, model, benchmark, seed, status, the swept parameters under their dotted keys, the
metrics acc/bwt/fwt/forgetting and every scalar extra metric) plus access to the per-run
arrays (R, R0 and the array extras such as gates(stage, path)). A run id found in several
files is kept once (the first file wins), so a merged file and its parts can be mixed.

Schema facts used here (documented at the top of src/sweep/output.c):
  - global attribute title == "clsweep sweep results" identifies a sweep file;
  - a swept parameter is a (run,) variable with attribute `key` (the dotted key); NaN or ""
    where the run's model does not read it;
  - an extra metric is a variable with attribute `clsweep_extra`: (run,) for scalars,
    (run, d0[, d1]) for arrays;
  - R(run, stage, task) is cut to the run's nstages x ntasks;
  - config(run) is the run's effective configuration "k=v k=v ..." holding exactly the keys
    the run's model reads (the run identity is a hash of it).

THE TIDY LOADER (documented in README "Analysis" and docs/workflow.md)

    import clsweep_results as cr              # sys.path: the repository's analysis/
    df = cr.load(["results/a.nc", "results/b.nc"])          # pandas DataFrame
    analysis/results results/a.nc -o runs.csv                # the same as CSV (CLI)

One row per model run (every status: ok, diverged, failed, unsupported, pruned), columns:
  file, sweep, run_id, model, benchmark, seed, status, message, metric, higher_is_better,
  nstages, ntasks, wall_seconds, phase (tuning protocol: 1 tune, 2 evaluate; 0 for a plain
  sweep); the metrics acc, bwt, fwt, forgetting and every scalar
  extra (retention, switch_time_mean, ...), and "intransigence" when a file holds joint
  runs (computed here against the joint run of the same sweep, benchmark configuration and
  seed: Runs._add_intransigence, intransigence_of); one column per parameter under its dotted key
  (the swept keys and any per-run key the file records, e.g. resolved train.* values;
  params="all" adds every key of the effective configuration).
A parameter the run's model does NOT read holds the string NOT_READ ("not read"), never
NaN and never a number, so groupby/set_index/unstack keep such runs in their own group
instead of dropping them (groupby drops NaN keys) or mixing them with a real value; numeric
comparisons on such a column fail loudly. `reads(df, key)` is the boolean mask of runs that
read the key, `numeric(df, key)` the float column with NaN where not read (for plotting).
Bookkeeping extras (BOOKKEEPING) are dropped from the metric columns unless
bookkeeping=True; values with a sentinel meaning (SENTINELS, e.g. switch_time -1 = "never")
are documented there and masked by the plotting code.
"""
import math
import os
import re
import sys
import warnings

if __name__ == "__main__":  # analysis/results: move to a Python that has the packages first
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _bootstrap import require_analysis_python
    require_analysis_python("analysis/results")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

TITLE = "clsweep sweep results"
CORE_METRICS = ["acc", "bwt", "fwt", "forgetting"]
DESCRIPTORS = ["run_id", "model", "benchmark", "seed", "status", "message", "metric",
               "higher_is_better", "config"]
STATUSES = ["ok", "diverged", "failed", "unsupported", "pruned"]
NOT_READ = "not read"

# Extras that describe the bookkeeping of a run, not its quality: never tabulated, plotted
# or tested as metrics (the one list; aggregate, plot and report read it from here).
BOOKKEEPING = {
    "ws_features": "columns of the weight-space matrix (a size)",
    "ws_ranks": "ranks of the process grid (a resource)",
    "ws_point_task": "task label of each PCA point (a label, not a measurement)",
    "ws_pc1": "PCA coordinates (drawn by analysis/plot_weightspace, not averaged)",
    "ws_pc2": "PCA coordinates (drawn by analysis/plot_weightspace, not averaged)",
    "curve_stage": "stage of each anytime-curve point (a coordinate of R_curve)",
    "curve_step": "step of each anytime-curve point (a coordinate of R_curve)",
    "curve_truncated": "1 when a run had more curve points than stored (a flag)",
    "stage_reached": "stages a pruned run completed (successive halving, a position)",
    "phase": "tuning-protocol phase (1 tune, 2 evaluate): the `phase` column, a label",
    "selection_mean": "phase 2: the chosen configuration's phase-1 mean (a record of the choice)",
    "selection_runner_up": "phase 2: the runner-up's phase-1 mean (a record of the choice)",
    "selection_margin": "phase 2: the margin of the choice (a record of the choice)",
    "selection_seeds": "phase 2: tune seeds in the choice (a count)",
    "selection_candidates": "phase 2: eligible configurations in the choice (a count)",
}
# Values that are codes, not measurements: masked before any mean, counted and shown.
SENTINELS = {
    "switch_time": (-1.0, "never"),   # the loss never dropped below the threshold in the block
}


def is_bookkeeping(name):
    return name in BOOKKEEPING


# Direction of each metric/array, the one place the figures and tables take it from:
# True = higher is better, False = lower is better, "R" = follows the run's metric
# (accuracy: higher; mse: lower), None = no better side (a description, not a score).
DIRECTIONS = {
    "acc": "R", "acc_adapted": "R", "R": "R", "R_adapted": "R", "R0": "R", "R_noise_free": "R",
    "bwt": True, "fwt": True, "forgetting": False, "retention": True,
    "intransigence": False, "plasticity": "R", "bwt_plus": True, "rem": True,
    "R_curve": "R", "anytime_acc": "R", "lca": "R", "stability_gap": False,
    "gap_recovery": True, "stability_gap_stage": False, "gap_recovery_stage": True,
    "specialisation": True, "specialisation_stage": True,
    "switch_time": False, "switch_time_mean": False, "switch_time_first": False,
    "switch_time_late": False, "block_loss": False,
    "ws_separation": None, "ws_task_r2": None, "ws_explained": None, "gates": None,
}
SHORT = {"acc": "ACC", "bwt": "BWT", "fwt": "FWT"}


def higher_is_better(name, metric_high=True):
    """True/False when `name` has a better side, None when it has none (see DIRECTIONS);
    metric_high is the run's own R direction (accuracy True, mse False)."""
    d = DIRECTIONS.get(name)
    return metric_high if d == "R" else d


def metric_label(name, metric_high=True, kind=None):
    """An axis / colour-bar label naming the quantity and its direction, e.g.
    "ACC: final mean accuracy (higher is better)", "forgetting (lower is better)"."""
    kind = kind or ("accuracy" if metric_high else "mse")
    if name == "acc":
        text = f"ACC: final mean {kind}"
    elif name in ("R", "R_adapted", "R_noise_free"):
        text = f"{name}: {kind} on the task"
    elif name == "bwt":
        text = "BWT (< 0 = forgot)"
    elif name == "retention":
        text = "retention (%)"
    else:
        text = SHORT.get(name, name)
    h = higher_is_better(name, metric_high)
    if h is None:
        return text if name in DIRECTIONS else f"{text} (direction not recorded)"
    return f"{text} ({'higher' if h else 'lower'} is better)"


class NotASweepFile(Exception):
    """A path that is missing, unreadable, or not a clsweep sweep file."""


def open_sweep(path):
    """Opens path as an xarray Dataset and checks it is a clsweep sweep file."""
    if not os.path.exists(path):
        raise NotASweepFile(f"{path}: no such file")
    if os.path.isdir(path):
        raise NotASweepFile(f"{path}: is a directory, not a sweep file")
    try:
        ds = xr.open_dataset(path)
    except Exception as e:  # xarray raises ValueError/OSError/... for foreign files
        raise NotASweepFile(f"{path}: not a readable NetCDF file ({type(e).__name__}: {e})") from None
    title = ds.attrs.get("title")
    if title != TITLE:
        ds.close()
        raise NotASweepFile(f"{path}: not a clsweep result file (global attribute title is "
                            f"{title!r}, expected {TITLE!r})")
    missing = [v for v in ("run_id", "model", "status", "R") if v not in ds.variables]
    if missing:
        ds.close()
        raise NotASweepFile(f"{path}: clsweep title but variables {missing} are missing "
                            "(damaged file or an incompatible version)")
    return ds


def _text(values):
    return [v.decode() if isinstance(v, bytes) else ("" if v is None else str(v)) for v in values]


def _is_nan(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


class Runs:
    """The runs of one or more sweep files (see the module docstring)."""

    def __init__(self, paths):
        if not paths:
            raise NotASweepFile("no sweep file given")
        self.paths = list(paths)
        self.datasets = []
        self.axes = []          # dotted keys of swept parameters, first-seen order
        self.extras = []        # scalar extra metric names
        self.arrays = {}        # array name -> dims after run (R, R0 and array extras)
        self.long_names = {}    # metric/array name -> long_name
        self.sweep_names = []
        frames, seen = [], set()
        self.duplicates = 0
        for fi, path in enumerate(self.paths):
            ds = open_sweep(path)
            self.datasets.append(ds)
            self.sweep_names.append(ds.attrs.get("sweep_name", os.path.basename(path)))
            frames.append(self._table(fi, ds, seen))
        self.table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        self._add_intransigence()
        self.metrics = [m for m in CORE_METRICS + self.extras
                        if m in self.table and self.table[m].notna().any()]

    def _table(self, fi, ds, seen):
        n = ds.sizes["run"]
        cols = {"file": [fi] * n, "row": list(range(n)),
                "sweep": [str(ds.attrs.get("sweep_name", ""))] * n}
        for v in DESCRIPTORS:
            if v not in ds.variables:
                cols[v] = [None] * n
            elif ds[v].dtype.kind in "OSU":
                cols[v] = _text(ds[v].values)
            else:
                cols[v] = ds[v].values.tolist()
        for v in ("nstages", "ntasks"):
            cols[v] = ds[v].values.astype(int).tolist() if v in ds.variables else [0] * n
        for v in ds.variables:
            da = ds[v]
            if da.dims == ("run",) and "key" in da.attrs:
                key = str(da.attrs["key"])
                if key not in self.axes:
                    self.axes.append(key)
                if da.dtype.kind in "OSU":
                    cols[key] = [s if s != "" else None for s in _text(da.values)]
                else:
                    cols[key] = da.values.astype(float).tolist()
        for m in CORE_METRICS + ["wall_seconds"]:
            if m in ds.variables:
                cols[m] = ds[m].values.astype(float).tolist()
                self.long_names.setdefault(m, ds[m].attrs.get("long_name", m))
        for v in ds.variables:
            da = ds[v]
            if "clsweep_extra" not in da.attrs or not da.dims or da.dims[0] != "run":
                continue
            name = str(da.attrs["clsweep_extra"])
            self.long_names.setdefault(name, da.attrs.get("long_name", name))
            if da.dims == ("run",):
                if name not in self.extras and not is_bookkeeping(name):
                    self.extras.append(name)
                cols[name] = da.values.astype(float).tolist()
            elif not is_bookkeeping(name):
                self.arrays.setdefault(name, da.dims[1:])
        for name in ("R", "R0"):
            if name in ds.variables:
                self.arrays.setdefault(name, ds[name].dims[1:])
                self.long_names.setdefault(name, ds[name].attrs.get("long_name", name))
        df = pd.DataFrame(cols)
        keep = ~df["run_id"].isin(seen)
        self.duplicates += int((~keep).sum())
        seen.update(df["run_id"])
        return df[keep]

    # ---- intransigence (needs the joint reference; not stored per run) ----
    def _add_intransigence(self):
        """The column "intransigence" (a scalar metric, listed in self.extras) for every ok
        run of a sweep that has an ok `joint` run of the same sweep, benchmark configuration
        and seed (intransigence_of); NaN elsewhere. Absent when no file has a joint run."""
        t = self.table
        if t.empty or "model" not in t or not (t["model"] == "joint").any():
            return
        refs = {}
        for i, row in t[(t["model"] == "joint") & (t["status"] == "ok")].iterrows():
            refs.setdefault(joint_key(row), []).append(i)
        vals = []
        for _, row in t.iterrows():
            cand = refs.get(joint_key(row), []) if row["status"] == "ok" else []
            ref = best_joint(row, [t.loc[j] for j in cand])
            vals.append(np.nan if ref is None else intransigence_of(
                self.array(row, "R"), self.array(ref, "R"), bool(row["higher_is_better"])))
        t["intransigence"] = vals
        if "intransigence" not in self.extras:
            self.extras.append("intransigence")
        self.long_names.setdefault("intransigence", INTRANSIGENCE_LONG_NAME)

    # ---- per-run arrays ----
    def array_var(self, row, name):
        """The variable name holding array/extra `name` in the row's file, or None."""
        ds = self.datasets[int(row["file"])]
        if name in ("R", "R0"):
            return name if name in ds.variables else None
        for v in ds.variables:
            if ds[v].attrs.get("clsweep_extra") == name:
                return v
        return None

    def array(self, row, name):
        """The array `name` of one run (a table row) as numpy, R cut to nstages x ntasks;
        None when the run's file does not have it."""
        var = self.array_var(row, name)
        if var is None:
            return None
        ds = self.datasets[int(row["file"])]
        a = np.asarray(ds[var].isel(run=int(row["row"])).values, dtype=float)
        if name == "R":
            a = a[: int(row["nstages"]), : int(row["ntasks"])]
        elif name == "R0":
            a = a[: int(row["ntasks"])]
        return a

    def mean_array(self, rows, name):
        """Mean and std (over the given runs, NaN-aware) of array `name`; arrays of
        different shapes are padded with NaN. (None, None, 0) when no run has it."""
        arrs = [a for a in (self.array(r, name) for _, r in rows.iterrows()) if a is not None]
        arrs = [a for a in arrs if a.size and np.isfinite(a).any()]
        if not arrs:
            return None, None, 0
        shape = tuple(max(a.shape[d] for a in arrs) for d in range(arrs[0].ndim))
        stack = np.full((len(arrs),) + shape, np.nan)
        for i, a in enumerate(arrs):
            stack[(i,) + tuple(slice(0, s) for s in a.shape)] = a
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            std = np.nanstd(stack, axis=0, ddof=1) if len(arrs) > 1 else np.zeros(shape)
        return mean, std, len(arrs)

    # ---- grouping ----
    def varying_axes(self, df=None, exclude=()):
        """Swept keys that take at least two distinct values in df (default: all runs)."""
        df = self.table if df is None else df
        out = []
        for k in self.axes:
            if k in exclude or k not in df:
                continue
            vals = {v for v in df[k] if not _is_nan(v)}
            if len(vals) >= 2:
                out.append(k)
        return out

    def reads_mask(self, key, df=None):
        """Boolean Series: the runs whose model reads `key`. From the run's effective
        configuration when the file has one (exact), else from the value (NaN/"" = not read)."""
        df = self.table if df is None else df
        out = []
        for cfg, v in zip(df["config"] if "config" in df else [None] * len(df),
                          df[key] if key in df else [None] * len(df)):
            keys = config_dict(cfg)
            out.append(key in keys if keys else not _is_nan(v))
        return pd.Series(out, index=df.index, dtype=bool)

    def tidy(self, params="swept", not_read=NOT_READ, bookkeeping=False):
        """The public one-row-per-run DataFrame (see the module docstring, "THE TIDY LOADER")."""
        t = self.table
        cols = ["file", "sweep", "run_id", "model", "benchmark", "seed", "status", "message",
                "metric", "higher_is_better", "nstages", "ntasks", "wall_seconds"]
        out = pd.DataFrame({c: t[c] for c in cols if c in t}, index=t.index)
        out["file"] = [self.paths[int(i)] for i in t["file"]]
        # tuning protocol (docs/spec.md): 1 tune, 2 evaluate; 0 for runs of a plain sweep
        out["phase"] = ([0 if _is_nan(v) else int(v) for v in t["phase"]] if "phase" in t
                        else [0] * len(t))
        if "higher_is_better" in out:
            out["higher_is_better"] = [None if _is_nan(v) else bool(v)
                                       for v in out["higher_is_better"]]
        scal = [m for m in CORE_METRICS + self.extras if m in t]
        if bookkeeping:
            scal += [m for m in BOOKKEEPING if m in t and m not in scal]
        for m in scal:
            out[m] = t[m].astype(float)
        cfgs = [config_dict(c) for c in t["config"]] if "config" in t else [{}] * len(t)
        keys = list(self.axes)
        if params == "all":
            for d in cfgs:
                keys += [k for k in d if k not in keys and k not in ("model", "seed")]
        elif params != "swept":
            raise ValueError(f"params={params!r}: expected 'swept' or 'all'")
        for k in keys:
            vals = []
            for d, v in zip(cfgs, t[k] if k in t else [None] * len(t)):
                if d:
                    read = k in d
                    if read and _is_nan(v):
                        v = _parse_value(d[k])
                else:
                    read = not _is_nan(v)
                vals.append(v if read else not_read)
            out[k] = pd.Series(vals, index=t.index, dtype=object)
        out.attrs["params"] = keys
        out.attrs["metrics"] = scal
        out.attrs["not_read"] = not_read
        return out.reset_index(drop=True)

    def close(self):
        for ds in self.datasets:
            ds.close()


INTRANSIGENCE_LONG_NAME = ("intransigence (Chaudhry et al. 2018): mean over stages s of "
                           "R_joint[s][k] - R[s][k], k the task trained at s")


def joint_key(row):
    """What a run shares with its joint reference: sweep, benchmark, seed and every
    benchmark.* key of its effective configuration."""
    cfg = config_dict(row.get("config"))
    bench = tuple(sorted((k, v) for k, v in cfg.items() if k.startswith("benchmark.")))
    return (row.get("sweep"), row.get("benchmark"), str(row.get("seed")), bench)


def best_joint(row, candidates):
    """Among joint runs of the same joint_key, the one sharing the most training and network
    settings (train.*, mlp.*) with the run (the first of equals, in file order); None if none."""
    if not candidates:
        return None
    cfg = config_dict(row.get("config"))

    def score(ref):
        rc = config_dict(ref.get("config"))
        return sum(1 for k, v in rc.items() if k.startswith(("train.", "mlp.")) and cfg.get(k) == v)

    return max(candidates, key=score)   # max keeps the first of equal scores


def intransigence_of(R, R_joint, higher_is_better=True):
    """Intransigence (Chaudhry et al. 2018) of a run with R (S, T) against the R of the joint
    run of the same stream: the mean over stages s of R_joint[s][k] - R[s][k], k = s mod T
    the task trained at stage s (clsweep's curricula cycle through the tasks); signs flipped
    for loss metrics, so positive always means "learns the new task worse than joint
    training". The same formula as metrics_intransigence (src/core/metrics.c). NaN when the
    shapes differ or nothing is defined."""
    if R is None or R_joint is None or R.shape != R_joint.shape or R.size == 0:
        return float("nan")
    S, T = R.shape
    k = np.arange(S) % T
    d = R_joint[np.arange(S), k] - R[np.arange(S), k]
    d = d if higher_is_better else -d
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


def config_dict(config):
    """{key: value string} of an effective configuration string; {} when there is none."""
    if not isinstance(config, str) or not config:
        return {}
    return dict(t.split("=", 1) for t in _TOKEN.split(config) if "=" in t)


def _parse_value(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def load(paths, params="swept", not_read=NOT_READ, bookkeeping=False):
    """The tidy table of one or more clsweep sweep files: a pandas DataFrame with one row
    per model run (see the module docstring). paths: a path or a list of paths; a run id
    found in several files is kept once. params: "swept" (swept and per-run recorded keys)
    or "all" (also every key of the effective configuration). not_read: the value of a
    parameter the model does not read (default NOT_READ; pass float("nan") only if you
    handle NaN keys yourself). Raises NotASweepFile for a path that is not a sweep file."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    runs = Runs([str(p) for p in paths])
    try:
        return runs.tidy(params, not_read, bookkeeping)
    finally:
        runs.close()


def reads(df, key):
    """Boolean mask of the rows (runs) of a load() table whose model reads `key`."""
    nr = df.attrs.get("not_read", NOT_READ)
    if isinstance(nr, float) and math.isnan(nr):
        return df[key].map(lambda v: not _is_nan(v))
    return df[key].map(lambda v: not (isinstance(v, str) and v == nr))


def numeric(df, key):
    """The column `key` of a load() table as floats, NaN where the model does not read it
    (for plotting; do not group on it)."""
    return pd.to_numeric(df[key].where(reads(df, key)), errors="coerce").astype(float)


def group_keys(runs, over=()):
    """The displayed identity of a configuration: benchmark, model, the tuning-protocol
    phase (when a file has one), swept values."""
    phase = ["phase"] if "phase" in getattr(runs, "table", {}) else []
    return ["benchmark", "model"] + phase + [k for k in runs.axes if k not in over]


_TOKEN = re.compile(r" (?=[A-Za-z_][A-Za-z0-9_.]*=)")


def config_identity(config, over=()):
    """The effective configuration string without the seed and the keys in `over`."""
    if not isinstance(config, str) or not config:
        return None
    drop = set(over) | {"seed"}
    return tuple(t for t in _TOKEN.split(config) if t.split("=", 1)[0] not in drop)


def groups(runs, df=None, over=()):
    """Yields (key dict, runs DataFrame) per configuration (the effective configuration
    minus the seed and the keys in `over`), in first-seen order. The key holds benchmark,
    model, the swept values (None where the model does not read a key) and `sweep`, the
    sweep name(s) the runs come from."""
    df = runs.table if df is None else df
    keys = group_keys(runs, over)
    shown = [[None if _is_nan(v) else v for v in df[k]] for k in keys]
    ident = [config_identity(c, over) for c in df["config"]] if "config" in df else []
    index = {}
    for i, label in enumerate(zip(*shown)):
        # files without a config string fall back to the displayed identity
        index.setdefault((label, ident[i] if ident and ident[i] else None), []).append(i)
    for (label, _), rows in index.items():
        sel = df.iloc[rows]
        key = dict(zip(keys, label))
        key["sweep"] = "+".join(dict.fromkeys(sel["sweep"])) if "sweep" in sel else ""
        yield key, sel


def summarise(values, ddof=1):
    """(mean, std, n) of the finite values; std is NaN with fewer than ddof + 1 values."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, 0
    std = float(np.std(x, ddof=ddof)) if x.size > ddof else math.nan
    return float(np.mean(x)), std, int(x.size)


def sort_value(v):
    """A sort key that puts numbers in order, then strings, then missing values."""
    if _is_nan(v):
        return (2, 0.0, "")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def format_value(v):
    if _is_nan(v):
        return "–"
    if isinstance(v, (float, np.floating)) and float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.6g}"
    return str(v)


def is_better_high(rows):
    """True when the runs' metric is higher-is-better (accuracy)."""
    hib = [v for v in rows["higher_is_better"] if not _is_nan(v)]
    return bool(hib[0]) if hib else True


def fail(prog, msg, code=2):
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return code


# ---- command line: analysis/results ----

def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(
        prog="analysis/results",
        description="The tidy table of clsweep sweep files: one row per model run, resolved "
        "parameters as columns ('not read' where the run's model does not read the key), "
        "every status, metrics and scalar extras. CSV on stdout or to -o.",
        epilog="examples:\n  analysis/results results/quickstart.nc -o runs.csv\n"
        "  analysis/results a.nc b.nc --all-params | column -s, -t | less -S\n\n"
        "In Python: sys.path.insert(0, 'analysis'); import clsweep_results as cr; "
        "df = cr.load(['a.nc'])",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.nc")
    p.add_argument("-o", "--out", metavar="FILE.csv", help="write here instead of stdout")
    p.add_argument("--all-params", action="store_true",
                   help="a column for every key of the effective configuration")
    p.add_argument("--bookkeeping", action="store_true",
                   help="also the bookkeeping extras (" + ", ".join(BOOKKEEPING) + ")")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        df = load(args.files, "all" if args.all_params else "swept",
                  bookkeeping=args.bookkeeping)
    except NotASweepFile as e:
        return fail("analysis/results", e)
    try:
        df.to_csv(args.out if args.out else sys.stdout, index=False)
    except OSError as e:
        return fail("analysis/results", e)
    if args.out:
        print(f"analysis/results: {len(df)} run(s) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
