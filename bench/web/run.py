#!/usr/bin/env python3
"""Loupe's screens in a real browser: how soon the study list and the first image appear, and how fast a
series scrolls, against Orthanc 1.10's own web viewer (Debian's orthanc-webviewer 2.8) in the same run.

    python3 bench/web/run.py                       # 100k studies, a 200-image 512x512 CT series, 5 runs each
    python3 bench/web/run.py --studies 5000 --runs 3   # quick check (~2 min after the first)
    LOUPE_BIN=/path/to/loupe python3 bench/web/run.py

Headless Chromium (Debian's chromium and chromium-driver, Selenium from PyPI) at 1400x1000, browser cache
off. Times are from the navigation's start (performance.now() in the page) to the first frame in which
the study list has a row, or the viewer's canvas shows the image; scrolling is driven from inside the
page (no WebDriver round trips): "step" waits for each image before asking for the next (holding a key),
"wheel" sends one wheel step per animation frame (a fast scroll) and counts the images drawn.
See bench/README.md ("Screens").
"""

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(BENCH, "ingest"))
sys.path.insert(0, os.path.join(REPO, "conformance"))
sys.path.insert(0, HERE)

import corpus  # noqa: E402  bench/ingest/corpus.py
import series as ct_series  # noqa: E402  bench/web/series.py
import servers  # noqa: E402  bench/ingest/servers.py
from browser_support import chromium, log_in  # noqa: E402  conformance/browser_support.py

WEBVIEWER_PLUGIN = "/usr/share/orthanc/plugins/libOrthancWebViewer.so"
PASSWORD = "bench-screens-1"
TARGETS = {"list": 300.0, "first": 200.0, "fps": 25.0}


def log(message=""):
    print(message, flush=True)


# ---- what the page reports: installed before any script of the page runs ----------------------------

PROBE_JS = r"""
(function () {
  var B = window.__bench = {list: null, first: null};
  function drawn(canvas) {
    if (!canvas || !canvas.width) return false;
    var p = canvas.getContext('2d').getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data;
    return p[0] + p[1] + p[2] > 0;
  }
  function poll() {
    if (B.list === null && document.querySelector('#studies tbody tr')) B.list = performance.now();
    if (B.first === null && drawn(document.querySelector('.viewer canvas, #dicomImage canvas'))) B.first = performance.now();
    requestAnimationFrame(poll);
  }
  requestAnimationFrame(poll);
})();
"""

# Each viewer: how to ask for the next image, and how to tell that a new one was drawn.
VIEWERS = {
    "loupe": {
        "next": "document.querySelector('.viewer canvas').dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true}));",
        "wheel": "document.querySelector('.viewer canvas').dispatchEvent(new WheelEvent('wheel', {deltaY: 100, bubbles: true, cancelable: true}));",
        # The position line changes once the image is drawn.
        "watch": """var node = document.getElementById('position');
                    new MutationObserver(function () { onImage(node.textContent); }).observe(node, {childList: true, characterData: true, subtree: true});""",
        "at_end": "document.getElementById('position').textContent.startsWith('Image ' + total + ' of')",
        "current": "document.getElementById('position').textContent",
    },
    "orthanc": {
        "next": "document.getElementById('dicomImage').dispatchEvent(new WheelEvent('mousewheel', {wheelDeltaY: -120, deltaY: 120, bubbles: true, cancelable: true}));",
        "wheel": "document.getElementById('dicomImage').dispatchEvent(new WheelEvent('mousewheel', {wheelDeltaY: -120, deltaY: 120, bubbles: true, cancelable: true}));",
        # cornerstone 0.11 triggers its events through jQuery; a redraw of the same image does not count.
        "watch": """jQuery('#dicomImage').on('CornerstoneImageRendered.bench', function (e, d) { onImage(d.image.imageId); });""",
        "at_end": "jQuery('#slider').slider('value') >= jQuery('#slider').slider('option', 'max')",
        "current": "cornerstone.getEnabledElement(document.getElementById('dicomImage')).image.imageId",
    },
}

SCROLL_JS = r"""
var mode = arguments[0], total = arguments[1], next = new Function(arguments[2]), wheel = new Function(arguments[3]);
var atEnd = new Function('total', 'return ' + arguments[4]), done = arguments[arguments.length - 1];
var shown = [], last = new Function('return ' + arguments[5])(), t0 = performance.now(), finished = false;
function finish() { if (!finished) { finished = true; done({t0: t0, times: shown}); } }
function onImage(id) {
  if (id === last || finished) return;
  last = id;
  shown.push(performance.now());
  if (shown.length >= total - 1) { finish(); return; }
  if (mode === 'step') setTimeout(next, 0);
}
WATCH
if (mode === 'step') { next(); }
else { (function tick() { if (finished) return; if (atEnd(total)) { setTimeout(finish, 300); return; } wheel(); requestAnimationFrame(tick); })(); }
setTimeout(finish, 120000);
"""


def driver():
    d = chromium(1400, 1000)
    d.set_script_timeout(180)
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE_JS})
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return d


def time_to(d, url, mark, timeout=60.0):
    """Opens `url`; milliseconds from the navigation's start to `mark` (list or first)."""
    d.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = d.execute_script(f"return window.__bench && window.__bench.{mark}")
        if value is not None:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"{url}: no {mark} within {timeout} s")


def scroll(d, viewer, mode, total):
    """Images shown per second from the first to the last of the series."""
    v = VIEWERS[viewer]
    r = d.execute_async_script(SCROLL_JS.replace("WATCH", v["watch"]), mode, total, v["next"], v["wheel"], v["at_end"], v["current"])
    times = r["times"]
    if len(times) < 2:
        raise RuntimeError(f"{viewer} {mode}: {len(times)} images drawn")
    return {"images": len(times), "per_second": len(times) / (times[-1] - r["t0"]) * 1000}


def median(values):
    return statistics.median(values) if values else None


# ---- the servers ------------------------------------------------------------------------------------

class Loupe:
    def __init__(self, args, studies_dir, series_dir, params):
        self.binary = args.loupe_bin
        self.data = os.path.join(args.work, f"web-loupe-{args.studies}-{args.slices}")
        marker = self.data + ".json"
        cached = os.path.exists(marker) and json.load(open(marker)) == params
        if not cached:
            servers.rmtree(self.data)
            os.makedirs(self.data)
            log(f"  loupe: importing {args.studies} studies and the {args.slices}-image series")
            seconds = servers.loupe_import(self.binary, self.data, [studies_dir, series_dir], os.path.join(self.data, "import.log"))
            log(f"  loupe: imported in {seconds:.0f} s")
            servers.loupe_user(self.binary, self.data, "bench", PASSWORD)
            with open(marker, "w") as f:
                json.dump(params, f)
        else:
            log(f"  loupe: reusing the archive imported earlier in {self.data}")

    def start(self):
        http_port = servers.free_port()
        # No derivations: a bulk import's PNGs and embeddings would be computed while the pages are timed.
        argv = [self.binary, "serve", "--data", self.data, "--dimse-port", str(servers.free_port()), "--http-port", str(http_port),
                "--log-level", "warning", "--derivation-workers", "0"]
        self.process = servers.start(argv, os.path.join(self.data, "serve.log"))
        self.url = f"http://127.0.0.1:{http_port}"
        servers.wait_http(self.url + "/healthz", self.process)

    def stop(self):
        servers.stop(self.process)


class OrthancViewer:
    def __init__(self, args, series_dir):
        self.work = os.path.join(args.work, "tmp", f"web-orthanc-{os.getpid()}")
        self.series_dir = series_dir

    def start(self):
        servers.rmtree(self.work)
        os.makedirs(self.work)
        http_port = servers.free_port()
        # Orthanc's defaults but for: the viewer plugin with a cache large enough for the series, a series
        # "stable" after 2 s (the viewer waits for that; default 60 s), no authentication, loopback.
        config = {"Name": "bench-web", "StorageDirectory": os.path.join(self.work, "storage"), "IndexDirectory": os.path.join(self.work, "index"),
                  "Plugins": [WEBVIEWER_PLUGIN], "HttpPort": http_port, "DicomPort": servers.free_port(), "RemoteAccessAllowed": False,
                  "AuthenticationEnabled": False, "StableAge": 2,
                  "WebViewer": {"CachePath": os.path.join(self.work, "cache"), "CacheSize": 2000, "Threads": 2}}
        path = os.path.join(self.work, "orthanc.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.process = servers.start(["/usr/sbin/Orthanc", path], os.path.join(self.work, "orthanc.log"))
        self.url = f"http://127.0.0.1:{http_port}"
        servers.wait_http(self.url + "/system", self.process)
        for name in sorted(os.listdir(self.series_dir)):
            with open(os.path.join(self.series_dir, name), "rb") as f:
                request = urllib.request.Request(self.url + "/instances", data=f.read(), method="POST")
                urllib.request.urlopen(request, timeout=60).read()
        (self.series,) = json.loads(urllib.request.urlopen(self.url + "/series", timeout=10).read())
        time.sleep(3)  # stable
        self.version = json.loads(urllib.request.urlopen(self.url + "/system", timeout=10).read())["Version"]

    def stop(self):
        servers.stop(self.process)
        servers.rmtree(self.work)


# ---- the run ----------------------------------------------------------------------------------------

def measure_viewer(d, name, url, runs, slices):
    time_to(d, url, "first")  # a throwaway open: a new browser's first page costs more
    first = [time_to(d, url, "first") for _ in range(runs)]
    step, wheel = [], []
    for _ in range(runs):
        time_to(d, url, "first")
        time.sleep(0.5)
        step.append(scroll(d, name, "step", slices)["per_second"])
        time_to(d, url, "first")
        time.sleep(0.5)
        wheel.append(scroll(d, name, "wheel", slices)["per_second"])
    return {"first_ms": first, "step_fps": step, "wheel_fps": wheel}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loupe-bin", default=os.environ.get("LOUPE_BIN", os.path.join(REPO, ".build", "release", "loupe")))
    parser.add_argument("--work", default=os.path.join(BENCH, ".work"))
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    started = time.perf_counter()
    log(f"== screens: {args.studies} studies, a {args.slices}-image 512x512 CT series, {args.runs} runs; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    studies_dir = os.path.join(args.work, "corpus", f"web-studies-{args.studies}")
    studies = corpus.generate(studies_dir, "web-studies", args.studies, 16, corpus.Layout(1, 1, 5), "42", progress=log)
    series_dir = os.path.join(args.work, "corpus", f"web-series-{args.slices}")
    series = ct_series.generate(series_dir, args.slices, progress=log)
    loupe = Loupe(args, studies_dir, series_dir, {"studies": studies["params"], "series": series["params"]})
    results = {"params": vars(args), "loupe": {}, "orthanc": {}}
    d = driver()
    try:
        loupe.start()
        try:
            log_in(d, loupe.url, "bench", PASSWORD)
            time_to(d, loupe.url + "/", "list")
            results["loupe"]["list_ms"] = [time_to(d, loupe.url + "/", "list") for _ in range(args.runs)]
            rows = d.execute_script("return document.getElementById('count').textContent")
            log(f"  loupe: study list shows '{rows}'")
            results["loupe"].update(measure_viewer(d, "loupe", f"{loupe.url}/studies/{series['study_uid']}", args.runs, args.slices))
        finally:
            loupe.stop()
        if not args.skip_orthanc:
            if not os.path.exists(WEBVIEWER_PLUGIN):
                log(f"  orthanc: {WEBVIEWER_PLUGIN} is missing (apt-get install orthanc-webviewer): skipped")
            else:
                orthanc = OrthancViewer(args, series_dir)
                orthanc.start()
                try:
                    results["orthanc"]["version"] = orthanc.version
                    results["orthanc"].update(measure_viewer(d, "orthanc", f"{orthanc.url}/web-viewer/app/viewer.html?series={orthanc.series}",
                                                             args.runs, args.slices))
                finally:
                    orthanc.stop()
    finally:
        d.quit()
    report(results)
    os.makedirs(os.path.join(args.work, "results"), exist_ok=True)
    for path in [args.json, os.path.join(args.work, "results", f"web-{time.strftime('%Y%m%d-%H%M%S')}.json")]:
        if path:
            with open(path, "w") as f:
                json.dump(results, f, indent=2)
    log(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {time.perf_counter() - started:.0f} s in all")


def report(results):
    loupe, orthanc = results["loupe"], results["orthanc"]
    rows = [("time to the study list (ms)", "list_ms", TARGETS["list"], False),
            ("time to the first image (ms)", "first_ms", TARGETS["first"], False),
            ("scrolling, each image waited for (images/s)", "step_fps", TARGETS["fps"], True),
            ("scrolling, a wheel step every frame (images/s)", "wheel_fps", TARGETS["fps"], True)]
    log("")
    log(f"{'':48} {'Loupe':>14} {'Orthanc viewer':>16} {'ratio':>8} {'target':>10}")
    for label, key, target, higher in rows:
        mine, theirs = median(loupe.get(key, [])), median(orthanc.get(key, []))
        ratio = "" if mine is None or theirs is None else f"{(mine / theirs if higher else theirs / mine):.1f}x"
        met = "" if mine is None else ("met" if (mine >= target if higher else mine <= target) else "missed")
        log(f"{label:48} {fmt(mine):>14} {fmt(theirs) if theirs is not None else '—':>16} {ratio:>8} "
            f"{('≥ ' if higher else '≤ ') + f'{target:g}':>7} {met}")
    log("(medians of the runs; ratio: how many times better Loupe is: faster time, or more images per second)")


def fmt(value):
    return "—" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


if __name__ == "__main__":
    main()
