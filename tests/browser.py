"""Reports checked in a real browser: headless Chromium loads the page at a given window width, and a script added to
a copy of it measures what a person would see (page width, legend and series colours, tick labels)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

# Runs in the page: page width against the window; per chart, the colours of each series' marks and of its legend
# entry (leaf elements' computed fill and stroke, white and none left out), the tick labels and the x axis's label.
MEASURE = r"""
<script>
(function () {
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, charts: [],
               tables: [...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right)};
  const colours = g => {
    const found = new Set();
    for (const el of [g, ...g.querySelectorAll('*')]) {
      if (el.children.length) continue;
      const cs = getComputedStyle(el);
      for (const c of [cs.fill, cs.stroke]) if (c && c !== 'none' && c !== 'rgb(255, 255, 255)') found.add(c);
    }
    return [...found];
  };
  for (const svg of document.querySelectorAll('figure svg')) {
    const chart = {series: {}, legend: {}, xticks: [], yticks: [], xlabel: '', label: svg.getAttribute('aria-label')};
    for (const g of svg.querySelectorAll('[id]')) {
      const m = g.id.match(/^chart\d+-(series\d*|legend|xlabel)(?::(.*))?$/);
      if (!m) continue;
      if (m[1] === 'xlabel') { chart.xlabel = g.textContent.trim(); continue; }
      const kind = m[1] === 'legend' ? 'legend' : 'series';
      chart[kind][m[2]] = [...new Set([...(chart[kind][m[2]] || []), ...colours(g)])];
    }
    for (const axis of ['xtick', 'ytick'])
      for (const t of svg.querySelectorAll(`g[id^="${axis}_"] text`)) chart[axis + 's'].push(t.textContent.trim());
    out.charts.push(chart);
  }
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("CI must install Debian's chromium-headless-shell (see .ci/run) to check the reports render")
    pytest.skip("no Chromium here: apt-get install chromium-headless-shell to check the reports in a browser")


def measure(report: Path, width: int, work: Path) -> dict:
    """Load a copy of `report` with the measuring script in headless Chromium, `width` pixels wide."""
    page = work / f"measured-{width}.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={width},900",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


def tick_value(label: str) -> float | None:
    text = label.replace("\u2212", "-").replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def is_round_sequence(values: list[float]) -> bool:
    """Ticks a person would choose: equally spaced by 1, 2, 2.5 or 5 times a power of ten, each a multiple of it."""
    if len(values) < 2:
        return True
    steps = {round(b - a, 12) for a, b in zip(values, values[1:])}
    if len(steps) != 1:
        return False
    step = steps.pop()
    if step <= 0:
        return False
    exponent = 10 ** int(f"{step:e}".split("e")[1])
    mantissa = step / exponent
    if not any(abs(mantissa - m) < 1e-9 for m in (1, 2, 2.5, 5)):
        return False
    return all(abs(v / step - round(v / step)) < 1e-6 for v in values)


def assert_reads_well(report: Path, work: Path, integer_axes: tuple[str, ...] = ("k", "round")) -> list[dict]:
    """The checks the issue asks for, at a desktop and a narrow window: nothing wider than the window; every chart
    has a legend whose entries carry their series' colours; tick labels are round numbers (whole for counts)."""
    for width in (1280, 640):
        seen = measure(report, width, work)
        assert seen["scrollWidth"] <= seen["innerWidth"], (width, seen["scrollWidth"], seen["innerWidth"])
        assert seen["charts"], "no chart on the page"
        for chart in seen["charts"]:
            assert chart["series"], chart["label"]
            assert set(chart["legend"]) == set(chart["series"]), (chart["label"], chart["legend"], chart["series"])
            for name, legend_colours in chart["legend"].items():
                assert legend_colours and set(legend_colours) <= set(chart["series"][name]), \
                    (chart["label"], name, legend_colours, chart["series"][name])
            for axis in ("xticks", "yticks"):
                values = [tick_value(t) for t in chart[axis]]
                if values and all(v is not None for v in values):
                    assert is_round_sequence(values), (chart["label"], axis, chart[axis])
                    if axis == "xticks" and chart["xlabel"] in integer_axes:
                        assert all(v == int(v) for v in values), (chart["label"], chart[axis])
    return seen["charts"]


def assert_self_contained(text: str) -> None:
    """Nothing to fetch or run: no script, no link or source outside the page (`#id` references inside are fine)."""
    assert "<script" not in text and "@import" not in text
    outside = re.findall(r'(?:src|href)="(?!#)[^"]*"|url\((?!#)[^)]*\)', text)
    assert not outside, outside[:5]
