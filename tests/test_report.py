"""test_report.py — analysis/report, rendered by a real browser.

A sweep with ok and diverged runs (finetune and ewc on teacher-student, one absurd learning
rate) becomes one HTML page. Checked:
  - statically: one file per sweep, a Content-Security-Policy that forbids every fetch, no
    URL attribute that is not a data: URI or an in-page #anchor;
  - in headless Chromium (Debian's `chromium`; the test SKIPs only when it is not
    installed): `--dump-dom` after load has the status, summary, paired and per-run tables
    (every run, the diverged ones with their message), every figure as a decoded image
    (the page's script records naturalWidth > 0 for each), the sort script ran; a
    `--screenshot` is a non-blank PNG;
  - no network request: Chromium runs with its proxy pointed at a dead port and writes a
    NetLog (--log-net-log); no request whose network-isolation key is the page's (file://)
    may be for anything but file: or data: URLs. The detector is validated on a control
    page that does load an http:// image (it must be caught).
Run with the Debian interpreter: /usr/bin/python3 -m pytest tests/test_report.py.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "analysis"))
import report  # noqa: E402
from cls_pytest import clsweep  # noqa: E402

SWEEP = """\
name: report-test
benchmark: {name: teacher_student, blocks: 3, block_size: 40, batch: 20, test_size: 100}
models: [finetune, ewc]
seeds: 3
defaults: {mlp.hidden: [16], ewc.fisher_samples: 10}
grid:
  train.lr: [0.02, 1000000]
  ewc.lambda: [10, 100]
output: results/report-test.nc
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    y = d / "s.yaml"
    y.write_text(SWEEP)
    out = d / "s.nc"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([str(clsweep()), "run", str(y), "--output", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def page(sweep, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("report-out")
    assert report.main([str(sweep), "-o", str(outdir)]) == 0
    files = list(outdir.iterdir())
    assert [f.name for f in files] == ["report-test.html"]
    return files[0]


class Dom(HTMLParser):
    """Collects tables (rows of cell texts, by the id of the preceding h2), images, body
    attributes, and every URL-valued attribute."""
    def __init__(self):
        super().__init__()
        self.tables, self.imgs, self.urls, self.body, self.section = [], [], [], {}, None
        self._cell = None
        self.meta_csp = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href", "action", "data", "poster", "srcset"):
            if k in a:
                self.urls.append((tag, k, a[k]))
        if tag == "h2":
            self.section = a.get("id")
        elif tag == "table":
            self.tables.append({"section": self.section, "rows": [], "cls": a.get("class", "")})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "body":
            self.body = a
        elif tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.meta_csp = a.get("content")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(text):
    d = Dom()
    d.feed(text)
    return d


def test_page_is_self_contained(page):
    d = parse(page.read_text())
    assert d.meta_csp and "default-src 'none'" in d.meta_csp and "img-src data:" in d.meta_csp
    for tag, attr, url in d.urls:
        assert url.startswith("data:") or url.startswith("#"), (tag, attr, url[:80])
    assert d.imgs and all(i["src"].startswith("data:image/png;base64,") for i in d.imgs)
    text = page.read_text()
    assert "sweep_yaml" not in text and "name: report-test" in text  # the sweep file itself
    assert not re.search(r"<link\b|@import|url\(", text)


def run_chromium(exe, url, tmp, *extra):
    netlog = tmp / "net.json"
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--proxy-server=127.0.0.1:9", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", f"--log-net-log={netlog}", *extra, url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, netlog


def page_requests(netlog):
    """URLs the page itself requested: URL_REQUEST_START_JOB events whose network isolation
    key is the page's file:// origin (the browser's own background requests have other
    keys), other than file: and data: URLs."""
    d = json.loads(netlog.read_text())
    et = {v: k for k, v in d["constants"]["logEventTypes"].items()}
    out = []
    for e in d["events"]:
        prm = e.get("params") or {}
        if et.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in prm:
            if "file://" in str(prm.get("network_isolation_key", "")) and \
                    not prm["url"].startswith(("file:", "data:")):
                out.append(prm["url"])
    return out


def test_network_detector_catches_a_request(tmp_path):
    exe = chromium()
    if not exe:
        pytest.skip("chromium is not installed (make deps installs it)")
    ctl = tmp_path / "control.html"
    ctl.write_text('<!DOCTYPE html><html><body><img src="http://clsweep.invalid/x.png">'
                   "</body></html>")
    _, netlog = run_chromium(exe, ctl.as_uri(), tmp_path, "--dump-dom")
    assert any("clsweep.invalid" in u for u in page_requests(netlog))


def test_rendered_in_chromium(page, sweep, tmp_path):
    exe = chromium()
    if not exe:
        pytest.skip("chromium is not installed (make deps installs it)")
    dom, netlog = run_chromium(exe, page.as_uri(), tmp_path, "--dump-dom",
                               "--virtual-time-budget=5000")
    d = parse(dom)
    # no request left the page
    assert page_requests(netlog) == []
    # scripts ran under the CSP; every figure decoded
    assert d.body.get("data-sort") == "ready", d.body
    loaded = d.body.get("data-images-loaded", "")
    n_img = len(d.imgs)
    assert n_img >= 3 and loaded == f"{n_img}/{n_img}", (loaded, n_img)
    sections = {t["section"] for t in d.tables}
    assert {"status", "summary", "paired", "runs"} <= sections, sections
    runs = [t for t in d.tables if t["section"] == "runs"][0]["rows"]
    head, body = runs[0], runs[1:]
    import xarray as xr
    ds = xr.open_dataset(sweep)
    n = ds.sizes["run"]
    diverged = int((ds["status"].values.astype(str) == "diverged").sum())
    ds.close()
    assert len(body) == n and diverged >= 3
    si, mi = head.index("status"), head.index("message")
    bad = [r for r in body if r[si] == "diverged"]
    assert len(bad) == diverged and all(r[mi] for r in bad)  # with their messages
    status = [t for t in d.tables if t["section"] == "status"][0]["rows"]
    assert status[0][:3] == ["model", "ok", "diverged"]
    summary = [t for t in d.tables if t["section"] == "summary"][0]["rows"]
    assert any("1000000" in " ".join(r) and "diverged" in " ".join(r) for r in summary[1:])
    assert any("±" in c and "[" in c for r in summary[1:] for c in r)  # sd and CI shown
    paired = [t for t in d.tables if t["section"] == "paired"][0]["rows"]
    assert paired[0][:3] == ["configuration", "n", "diff [95 % CI]"]
    assert any(r[1] == "3" for r in paired[1:]) and any("no shared ok seed" in " ".join(r)
                                                        for r in paired[1:])


def test_screenshot(page, tmp_path):
    exe = chromium()
    if not exe:
        pytest.skip("chromium is not installed (make deps installs it)")
    shot = tmp_path / "shot.png"
    run_chromium(exe, page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    import matplotlib.image as mpimg
    img = mpimg.imread(shot)
    assert img.shape[:2] == (1600, 1280)
    assert img[..., :3].std() > 0.05  # not blank


def test_report_options(sweep, tmp_path, capsys):
    out = tmp_path / "o"
    assert report.main([str(sweep), "-o", str(out), "--no-figures", "--baseline", "nope"]) == 2
    assert "--baseline nope: no such model" in capsys.readouterr().err
    assert report.main([str(sweep), "-o", str(out), "--no-figures", "--paired-metric", "x"]) == 2
    assert "--paired-metric x" in capsys.readouterr().err
    assert report.main([str(sweep), "-o", str(out), "--no-figures", "--baseline", "ewc",
                        "--paired-metric", "forgetting"]) == 0
    d = parse((out / "report-test.html").read_text())
    assert not d.imgs
    heads = re.findall(r"<h3>([^<]*against[^<]*)</h3>", (out / "report-test.html").read_text())
    assert heads and all("forgetting against ewc" in h for h in heads), heads


def test_report_errors(tmp_path, capsys):
    assert report.main([str(tmp_path / "missing.nc"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    h = subprocess.run([str(REPO / "analysis/report"), "--help"], capture_output=True, text=True,
                       timeout=60)
    assert h.returncode == 0 and "examples:" in h.stdout
