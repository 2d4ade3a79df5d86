"""The static leaderboard page: its HTML, and its behaviour in a real browser.

The browser tests open the page from `file://` in Debian's headless Chromium
(driven by Playwright; no browser is downloaded) and click through it: sorting,
filters, the alpha select (each table at its own ranking alpha by default),
censored values and caps, the roles across tasks. They are skipped only when
/usr/bin/chromium is missing (`make test` installs it).
"""

import copy
import glob
import html.parser
import importlib.resources
import json
import os
import shutil

import pytest

from benchmark.publishing import site
from benchmark.science import splitter

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-quic", "--no-first-run",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOT = "/tmp/site_screenshot.png"

A = "cifar10-fastnet--data1-budget1-init-ft0.04"
B = "fashion_mnist-cnn--default"
EVIL = "conv</script><b>bold</b><!--<script>"


def summary(iqm, lo, hi, censored=0, seeds=3, **extra):
  return {"iqm": iqm, "lo": lo, "hi": hi, "censored": censored,
          "seeds": seeds, "at_cap": censored == seeds, "won": None, **extra}


def cell(iqm, lo, hi, censored=0, won=None):
  return summary(iqm, lo, hi, censored, median=iqm, won=won)


def won(schedule, count, reached):
  return {"schedule": schedule, "count": count, "reached": reached}


def at(rank, security, cells, p_next):
  return {"rank": rank, "security": security, "cells": cells,
          "p_next": p_next}


def row(split, share, withheld, pareto, records, by_alpha):
  return {"split": split, "share": share, "withheld": withheld,
          "pareto": pareto, "records": records, "by_alpha": by_alpha}


def make_board():
  """Two task entries and the cross-task summary, two alphas."""
  rec = lambda s, p: f"../records/cifar10-fastnet/{s}__{p}__x.json"
  task_a = {
      "id": A, "task": "cifar10/fastnet",
      "variant": "data1-budget1-init-ft0.04",
      "summary": ("3 originals (P* = 0.84, 0.85, 0.83; P0 = 0.1); budget "
                  "9,770 updates; 3 seeds per cell"),
      "notes": ["Ranked by security at alpha = 0.99, the task's headline "
                "alpha.", "T3 and T4 take the best schedule of a small "
                "fine-tuning grid in hindsight."],
      "alphas": [0.9, 0.99], "ranking_alpha": 0.99, "headline_alpha": 0.99,
      "caps": {"0.9": 10.0, "0.99": 2.7027},
      "procedures": ["T1", "T2", "T3", "T4"],
      "figures": [{"title": "Hardness vs alpha", "src": "figures/a_curves.png"},
                  {"title": "Security vs share", "src": "figures/a_pareto.png"}],
      "rows": [
          row("first.4", 0.0123, 1234, True,
              {"T1": rec("first.4", "T1"), "T2": rec("first.4", "T2")}, {
                  "0.99": at(1, summary(0.78, 0.70, 0.90, procedure="T2"), {
                      "T1": cell(0.95, 0.80, 1.10, censored=1),
                      "T2": cell(0.78, 0.70, 0.90),
                      "T3": cell(0.81, 0.75, 0.88,
                                 won=won("peak-linear", 2, 3)),
                      "T4": None}, 0.83),
                  "0.9": at(2, summary(0.52, 0.41, 0.60, procedure="T2"), {
                      "T1": cell(0.61, 0.55, 0.70),
                      "T2": cell(0.52, 0.41, 0.60),
                      "T3": cell(0.58, 0.50, 0.66), "T4": None}, 0.64)}),
          row("last.2", 0.25, 25000, True, {"T1": rec("last.2", "T1")}, {
              "0.99": at(2, summary(0.60, 0.52, 0.69, procedure="T3"), {
                  "T1": cell(0.72, 0.66, 0.80), "T2": cell(0.65, 0.60, 0.71),
                  "T3": cell(0.60, 0.52, 0.69),
                  "T4": cell(0.70, 0.62, 0.75)}, 0.71),
              "0.9": at(1, summary(0.57, 0.50, 0.63, procedure="T3"), {
                  "T1": cell(0.66, 0.60, 0.71), "T2": cell(0.59, 0.55, 0.64),
                  "T3": cell(0.57, 0.50, 0.63),
                  "T4": cell(0.62, 0.58, 0.69)}, 0.58)}),
          row("types.bias", 0.001, 100, False, {}, {
              "0.99": at(3, summary(0.45, 0.30, 0.51, censored=1,
                                    procedure="T1"), {
                  "T1": cell(0.45, 0.30, 0.51, censored=1),
                  "T2": cell(0.48, 0.41, 0.55),
                  "T3": cell(0.50, 0.44, 0.57),
                  "T4": cell(0.46, 0.40, 0.52)}, 0.66),
              "0.9": at(4, summary(0.20, 0.12, 0.27, procedure="T1"), {
                  "T1": cell(0.20, 0.12, 0.27), "T2": cell(0.22, 0.18, 0.30),
                  "T3": cell(0.25, 0.20, 0.31),
                  "T4": cell(0.21, 0.17, 0.26)}, None)}),
          row("layer.conv1", 0.05, 5000, False, {}, {
              "0.99": at(4, summary(0.30, 0.22, 0.38, procedure="T4"), {
                  "T1": cell(0.40, 0.33, 0.47), "T2": cell(0.35, 0.30, 0.41),
                  "T3": cell(0.33, 0.25, 0.40),
                  "T4": cell(0.30, 0.22, 0.38)}, None),
              "0.9": at(3, summary(0.31, 0.25, 0.37, procedure="T4"), {
                  "T1": cell(0.41, 0.35, 0.49), "T2": cell(0.36, 0.31, 0.42),
                  "T3": cell(0.33, 0.28, 0.39),
                  "T4": cell(0.31, 0.25, 0.37)}, 0.77)}),
          row("random.0.5", 0.5, 50000, False, {}, {
              "0.99": at(None, None, {"T1": None, "T2": None, "T3": None,
                                      "T4": None}, None),
              "0.9": at(None, None, {"T1": None, "T2": None, "T3": None,
                                     "T4": None}, None)}),
      ]}
  task_b = {
      "id": B, "task": "fashion_mnist/cnn", "variant": "default",
      "summary": "3 originals (P* = 0.91, 0.91, 0.90; P0 = 0.1); budget "
                 "4,680 updates; 5 seeds per cell",
      "notes": ["Ranked by security at alpha = 0.9, the task's headline "
                "alpha."],
      "alphas": [0.9, 0.99], "ranking_alpha": 0.9, "headline_alpha": 0.9,
      "caps": {"0.9": 4.5, "0.99": 1.25},
      "procedures": ["T1", "T2"],
      "figures": [{"title": "Hardness vs alpha", "src": "figures/b.png"}],
      "rows": [
          row(split, share, withheld, pareto, {}, {
              key: at(rank, summary(v, v - 0.1, v + 0.1, procedure="T1",
                                    seeds=5),
                      {"T1": cell(v, v - 0.1, v + 0.1),
                       "T2": cell(v + 0.05, v - 0.05, v + 0.15)}, p)
              for key, rank, v, p in ranks})
          for split, share, withheld, pareto, ranks in [
              (EVIL, 0.4, 40000, True,
               [("0.99", 1, 0.9, 0.9), ("0.9", 1, 0.7, 0.6)]),
              ("dense.0", 0.3, 30000, False,
               [("0.99", 2, 0.5, 0.7), ("0.9", 3, 0.3, None)]),
              ("bias", 0.01, 1000, True,
               [("0.99", 3, 0.3, 0.6), ("0.9", 2, 0.4, 0.55)]),
              ("all.1", 0.02, 2000, False,
               [("0.99", 4, 0.1, None), ("0.9", 4, 0.05, None)]),
          ]]}
  tasks = ["cifar10/fastnet", "fashion_mnist/cnn"]

  def task_value(v, split, cap, censored=0):
    return summary(v, v - 0.1, v + 0.1, censored, procedure="T1",
                   split=split, cap=cap)

  def pooled(v, n, censored=0):
    return {"mean": v, "lo": v - 0.05, "hi": v + 0.05, "tasks": n, "of": 2,
            "censored": censored}

  cross = {
      "id": "cross-task", "kind": "roles", "task": "across tasks",
      "variant": "", "tasks": tasks, "procedures": [], "figures": [],
      "summary": "Roles pooled across 2 tasks",
      "notes": ["Pooled = mean over the tasks that ran the role."],
      "alphas": [0.9, 0.99], "ranking_alpha": 0.9, "headline_alpha": None,
      "caps": {"0.99": dict(zip(tasks, [2.7027, 1.25])),
               "0.9": dict(zip(tasks, [10.0, 4.5]))},
      "rows": [
          {"split": "head", "role": "head", "share": None, "withheld": None,
           "records": {}, "pareto": False, "by_alpha": {
               "0.9": {"rank": 1, "p_next": 0.7,
                       "security": pooled(1.5, 2),
                       "per_task": {tasks[0]: task_value(2.0, "fc.head",
                                                         10.0),
                                    tasks[1]: task_value(1.0, "head", 4.5)}},
               "0.99": {"rank": 2, "p_next": None,
                        "security": pooled(1.975, 2, censored=1),
                        "per_task": {
                            tasks[0]: task_value(2.7027, "fc.head", 2.7027,
                                                 censored=3),
                            tasks[1]: task_value(1.25, "head", 1.25)}}}},
          {"split": "biases", "role": "biases", "share": None,
           "withheld": None, "records": {}, "pareto": False, "by_alpha": {
               "0.9": {"rank": 2, "p_next": None,
                       "security": pooled(0.4, 1),
                       "per_task": {tasks[0]: None,
                                    tasks[1]: task_value(0.4, "type.biases",
                                                         4.5)}},
               "0.99": {"rank": 1, "p_next": 0.6,
                        "security": pooled(2.1, 1),
                        "per_task": {tasks[0]: None,
                                     tasks[1]: task_value(
                                         2.1, "type.biases", 1.25)}}}}]}
  return {"title": "mcbench leaderboard",
          "note": ("Hardness = completion cost over the cost of training "
                   "from scratch; security = its minimum over procedures."),
          "alphas": [0.9, 0.99], "tasks": [task_a, task_b],
          "cross_task": cross,
          "left_out": ["records/cifar10-resnet20: 8 record(s) of protocol v1 "
                       "left out, never mixed with protocol v2"]}


# --- The HTML, without a browser. ---------------------------------------


class _Scripts(html.parser.HTMLParser):
  """Collects every <script> element's attributes and text."""

  def __init__(self):
    super().__init__()
    self.scripts, self.tags, self._open = [], [], None

  def handle_starttag(self, tag, attrs):
    self.tags.append(tag)
    if tag == "script":
      self._open = [dict(attrs), ""]

  def handle_data(self, data):
    if self._open is not None:
      self._open[1] += data

  def handle_endtag(self, tag):
    if tag == "script":
      self.scripts.append(tuple(self._open))
      self._open = None


def test_render_is_deterministic():
  board = make_board()
  page = site.render(board)
  assert site.render(board) == page
  # Independent of key order and of object identity.
  reordered = json.loads(json.dumps(board))
  reordered["tasks"][0] = dict(reversed(list(reordered["tasks"][0].items())))
  assert site.render(reordered) == page
  assert site.render(copy.deepcopy(board)) == page
  assert page.startswith("<!DOCTYPE html>") and "mcbench leaderboard" in page
  # Self-contained: nothing is fetched but the board's own figures.
  for external in ("http://", "https://", "<link", "src=\"http", "@import"):
    assert external not in page


def test_script_in_data_cannot_break_the_page():
  board = make_board()
  page = site.render(board)
  parser = _Scripts()
  parser.feed(page)
  parser.close()
  # Exactly the data block and the program: the data closed no element and
  # opened no <b>.
  assert [a.get("id") for a, _ in parser.scripts] == ["board-data", None]
  assert parser.tags.count("b") == 0 and parser.tags.count("script") == 2
  attrs, text = parser.scripts[0]
  assert attrs["type"] == "application/json"
  assert "</" not in text and "<!--" not in text
  assert json.loads(text) == board
  assert text == json.dumps(board, sort_keys=True, separators=(",", ":")
                           ).replace("</", "<\\/").replace("<!--",
                                                           "\\u003c!--")
  # The title is text, not markup.
  board["title"] = "a</title><script>x()</script>"
  assert "<title>a&lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;</title>" \
      in site.render(board)


def test_write_is_atomic_and_returns_path(tmp_path):
  path = str(tmp_path / "out" / "index.html")
  assert site.write(make_board(), path) == path
  assert open(path, encoding="utf-8").read() == site.render(make_board())
  assert os.listdir(tmp_path / "out") == ["index.html"]


# --- In Chromium. -------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is missing (Debian's chromium; `make chromium` "
           "installs it)")


@pytest.fixture(scope="module")
def browser():
  if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing")
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  with sync_playwright() as p:
    chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def _write_png(path, seed):
  """A small line chart, so that the figures are real images."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  image = Image.new("RGB", (480, 240), "white")
  draw = ImageDraw.Draw(image)
  draw.line([(40, 20), (40, 210), (460, 210)], fill="black", width=2)
  for k, colour in enumerate(["#1f77b4", "#ff7f0e", "#2ca02c"]):
    points = [(40 + 42 * i, 200 - ((i * (k + seed + 2) * 7) % 170))
              for i in range(11)]
    draw.line(points, fill=colour, width=3)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path)


def _write_four_panels(path):
  """A wide figure like the hardness curves: four panels with small text,
  2160 x 480 px, so that its thumbnail is far smaller than the image."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  image = Image.new("RGB", (2160, 480), "white")
  draw = ImageDraw.Draw(image)
  for k in range(4):
    x = 60 + 520 * k
    draw.rectangle([(x, 40), (x + 440, 420)], outline="black", width=2)
    draw.text((x + 200, 12), f"T{k + 1}", fill="black")
    draw.line([(x, 400 - 30 * k), (x + 440, 60 + 20 * k)], fill="#1f77b4",
              width=3)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path)


@pytest.fixture
def site_path(tmp_path):
  """`make_board()`'s page and its figures under tmp_path; its path."""
  _write_four_panels(str(tmp_path / "figures" / "a_curves.png"))
  for seed, name in enumerate(["a_pareto.png", "b.png"]):
    _write_png(str(tmp_path / "figures" / name), seed)
  return site.write(make_board(), str(tmp_path / "index.html"))


def _open(browser, path, width, javascript=True):
  """Opens `path` from file:// in a new context `width` px wide.

  Returns:
    (context, tab, errors): `errors` collects console errors and page
    errors as they occur.
  """
  context = browser.new_context(viewport={"width": width, "height": 900},
                                java_script_enabled=javascript)
  tab = context.new_page()
  tab.set_default_timeout(15_000)
  errors = []
  tab.on("console", lambda m: errors.append(f"console: {m.text}")
         if m.type == "error" else None)
  tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
  tab.goto("file://" + path)
  tab.wait_for_selector("section.task table.leaderboard tbody tr")
  return context, tab, errors


@pytest.fixture
def page(browser, site_path):
  """The page of `make_board()`, opened from file://; at the end, asserts
  that no console error or page error occurred."""
  context, tab, errors = _open(browser, site_path, 1440)
  yield tab
  context.close()
  assert not errors, errors


def splits(page, task):
  return page.eval_on_selector_all(
      f'section[data-task="{task}"] tbody tr',
      "rows => rows.map(r => r.getAttribute('data-split'))")


def table(page, task):
  """The section's body rows as {data-key: cell text}."""
  return page.evaluate("""task => {
    const s = document.querySelector(`section[data-task="${task}"]`);
    const keys = [...s.querySelectorAll('thead th')].map(
        th => th.getAttribute('data-key'));
    return [...s.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
        [...tr.children].map((td, i) => [keys[i], td.textContent])));
  }""", task)


def aria_sort(page, task):
  return page.eval_on_selector_all(
      f'section[data-task="{task}"] thead th[aria-sort]',
      "ths => ths.map(th => [th.dataset.key, th.getAttribute('aria-sort')])")


def header(page, task, key):
  return page.locator(f'section[data-task="{task}"] th[data-key="{key}"]')


@needs_chromium
def test_tables_render(page):
  assert page.title() == "mcbench leaderboard"
  assert page.inner_text("h1") == "mcbench leaderboard"
  assert "security = its minimum" in page.inner_text("header .note")
  sections = page.eval_on_selector_all(
      "section.task", "s => s.map(x => x.dataset.task)")
  assert sections == ["cross-task", A, B]
  assert page.inner_text('section[data-task="cross-task"] h2') == \
      "Across tasks: roles"
  assert "cifar10/fastnet" in page.inner_text(f'section[data-task="{A}"] h2')
  assert "data1-budget1-init-ft0.04" in page.inner_text(
      f'section[data-task="{A}"] h2')
  assert "budget 9,770 updates" in page.inner_text(
      f'section[data-task="{A}"] .summary')
  # Rows in rank order at each table's own ranking alpha (A: 0.99, B and
  # the roles: 0.9); the unranked one last.
  assert splits(page, A) == ["first.4", "last.2", "types.bias",
                             "layer.conv1", "random.0.5"]
  assert splits(page, B) == [EVIL, "bias", "dense.0", "all.1"]
  assert splits(page, "cross-task") == ["head", "biases"]
  # Notes, caps and the alpha shown, for each table.
  notes = page.eval_on_selector_all(
      f'section[data-task="{A}"] ul.notes li', "l => l.map(x => x.textContent)")
  assert notes == make_board()["tasks"][0]["notes"]
  assert page.inner_text(f'section[data-task="{A}"] .caps').endswith(
      "\u03b1 = 0.9: cap 10.000 \u00b7 \u03b1 = 0.99: cap 2.703")
  assert page.inner_text(f'section[data-task="{A}"] .alpha-line') == (
      "Shown at \u03b1 = 0.99 (ranks this table); cap 2.703: a split as hard "
      "as training from scratch reads 1")
  assert page.inner_text(f'section[data-task="{B}"] .alpha-line').startswith(
      "Shown at \u03b1 = 0.9 (ranks this table); cap 4.500")
  assert page.inner_text("header ul.left-out") == (
      "records/cifar10-resnet20: 8 record(s) of protocol v1 left out, never "
      "mixed with protocol v2")
  keys = page.eval_on_selector_all(
      f'section[data-task="{A}"] thead th', "t => t.map(x => x.dataset.key)")
  assert keys == ["rank", "split", "share", "T1", "T2", "T3", "T4",
                  "security", "pareto", "p_next"]
  rows = table(page, A)
  assert rows[0] == {
      "rank": "1", "split": "first.4", "share": "1.23% (1,234)",
      "T1": ">0.950 [0.80, 1.10] c=1/3", "T2": "0.780 [0.70, 0.90]",
      "T3": "0.810 [0.75, 0.88] peak-linear 2/3", "T4": "\u2014",
      "security": "0.780 [0.70, 0.90] (T2)", "pareto": "\u2605",
      "p_next": "0.83"}
  assert rows[1]["share"] == "25.00% (25,000)"
  assert rows[3]["p_next"] == "\u2014" and rows[3]["pareto"] == ""
  assert rows[4]["rank"] == "\u2014" and rows[4]["security"] == "\u2014"
  # Links to the records, where they exist.
  first = f'section[data-task="{A}"] tr[data-split="first.4"]'
  assert page.get_attribute(f'{first} td[data-procedure="T1"] a', "href") == \
      "../records/cifar10-fastnet/first.4__T1__x.json"
  assert page.locator(f'{first} td[data-procedure="T3"] a').count() == 0
  assert page.get_attribute(f"{first} .pareto", "title").startswith(
      "Pareto-optimal")
  # The hostile split name is shown as text and made no element.
  assert table(page, B)[0]["split"] == EVIL
  assert page.locator("section.task b").count() == 0
  # Figures: images with captions, loaded from file://.
  figures = page.locator(f'section[data-task="{A}"] figure')
  assert figures.count() == 2
  assert figures.nth(0).locator("figcaption").inner_text() == \
      "Hardness vs alpha"
  assert figures.nth(1).locator("img").get_attribute("src") == \
      "figures/a_pareto.png"
  assert page.locator('section[data-task="cross-task"] figure').count() == 0


@needs_chromium
def test_sort_by_withheld_and_reverse(page):
  assert aria_sort(page, A) == [["rank", "ascending"]]
  header(page, A, "share").click()
  by_share = ["random.0.5", "last.2", "layer.conv1", "first.4", "types.bias"]
  assert splits(page, A) == by_share
  assert aria_sort(page, A) == [["share", "descending"]]
  header(page, A, "share").click()
  assert splits(page, A) == by_share[::-1]
  assert aria_sort(page, A) == [["share", "ascending"]]
  # Text columns start ascending; the other table is untouched.
  header(page, A, "split").click()
  assert splits(page, A) == sorted(by_share)
  assert aria_sort(page, A) == [["split", "ascending"]]
  assert aria_sort(page, B) == [["rank", "ascending"]]
  assert splits(page, B) == [EVIL, "bias", "dense.0", "all.1"]


@needs_chromium
def test_sort_puts_missing_values_last(page):
  header(page, A, "security").click()
  assert splits(page, A) == ["first.4", "last.2", "types.bias",
                             "layer.conv1", "random.0.5"]
  header(page, A, "security").click()
  assert splits(page, A) == ["layer.conv1", "types.bias", "last.2",
                             "first.4", "random.0.5"]
  assert aria_sort(page, A) == [["security", "ascending"]]
  # A procedure column with a missing cell, both ways.
  header(page, A, "T4").click()
  assert splits(page, A) == ["last.2", "types.bias", "layer.conv1",
                             "first.4", "random.0.5"]
  header(page, A, "T4").click()
  assert splits(page, A)[:3] == ["layer.conv1", "types.bias", "last.2"]
  # P(harder than next): None last.
  header(page, A, "p_next").click()
  assert splits(page, A)[:2] == ["first.4", "last.2"]
  assert set(splits(page, A)[3:]) == {"layer.conv1", "random.0.5"}
  # Back to rank: the unranked row stays last both ways.
  header(page, A, "rank").click()
  assert aria_sort(page, A) == [["rank", "descending"]]
  assert splits(page, A) == ["layer.conv1", "types.bias", "last.2",
                             "first.4", "random.0.5"]
  header(page, A, "rank").click()
  assert aria_sort(page, A) == [["rank", "ascending"]]
  assert splits(page, A)[-1] == "random.0.5"


@needs_chromium
def test_task_filter_hides_other_sections(page):
  options = page.eval_on_selector_all(
      "#task-filter option", "o => o.map(x => [x.value, x.textContent])")
  assert [v for v, _ in options] == ["all", "cross-task", A, B]
  assert options[0][1] == "all tasks"
  page.select_option("#task-filter", B)
  assert page.locator(f'section[data-task="{B}"]').is_visible()
  for hidden in (A, "cross-task"):
    section = page.locator(f'section[data-task="{hidden}"]')
    assert section.is_hidden()
    assert section.get_attribute("hidden") is not None
  page.select_option("#task-filter", "all")
  assert page.locator("section.task:visible").count() == 3


@needs_chromium
def test_procedure_filter_hides_other_columns(page):
  options = page.eval_on_selector_all(
      "#procedure-filter option", "o => o.map(x => [x.value, x.textContent])")
  assert options == [["all", "all procedures"], ["T1", "T1"], ["T2", "T2"],
                     ["T3", "T3"], ["T4", "T4"]]
  page.select_option("#procedure-filter", "T2")
  visible = page.eval_on_selector_all(
      f'section[data-task="{A}"] thead th',
      "t => t.filter(x => !x.hidden && x.offsetParent).map(x => x.dataset.key)")
  assert visible == ["rank", "split", "share", "T2", "security", "pareto",
                     "p_next"]
  for p in ("T1", "T3", "T4"):
    assert page.locator(f'section[data-task="{A}"] [data-procedure="{p}"]'
                        ":visible").count() == 0
  assert page.locator(f'section[data-task="{A}"] td[data-procedure="T2"]'
                      ":visible").count() == 5
  # The filter survives a re-sort and a change of alpha.
  header(page, A, "share").click()
  page.select_option("#alpha-select", "0.9")
  assert page.locator('td[data-procedure="T1"]:visible').count() == 0
  assert page.locator('td[data-procedure="T2"]:visible').count() == 5 + 4
  page.select_option("#procedure-filter", "all")
  assert page.locator(f'section[data-task="{A}"] td[data-procedure]'
                      ":visible").count() == 5 * 4


@needs_chromium
def test_alpha_select_changes_numbers_and_ranks(page):
  assert page.eval_on_selector(
      "#alpha-select", "s => [s.value, [...s.options].map(o => o.value)]") == \
      ["headline", ["headline", "0.9", "0.99"]]
  header(page, A, "share").click()
  page.select_option("#alpha-select", "0.9")
  # Back in rank order, that alpha's ranks and numbers.
  assert aria_sort(page, A) == [["rank", "ascending"]]
  assert splits(page, A) == ["last.2", "first.4", "layer.conv1",
                             "types.bias", "random.0.5"]
  rows = table(page, A)
  assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "\u2014"]
  assert rows[1]["T1"] == "0.610 [0.55, 0.70]"
  assert rows[1]["security"] == "0.520 [0.41, 0.60] (T2)"
  assert rows[3]["p_next"] == "\u2014"
  assert page.inner_text(f'section[data-task="{A}"] .alpha-line') == (
      "Shown at \u03b1 = 0.9 (not the ranking alpha, \u03b1 = 0.99); cap "
      "10.000: a split as hard as training from scratch reads 1")
  assert splits(page, B) == [EVIL, "bias", "dense.0", "all.1"]
  page.select_option("#alpha-select", "0.99")
  assert table(page, A)[0]["T1"] == ">0.950 [0.80, 1.10] c=1/3"
  assert splits(page, B) == [EVIL, "dense.0", "bias", "all.1"]
  assert splits(page, "cross-task") == ["biases", "head"]
  page.select_option("#alpha-select", "headline")
  assert splits(page, A)[0] == "first.4" and splits(page, B)[1] == "bias"


@needs_chromium
def test_censored_values_and_caps_keep_their_marks(page):
  rows = {r["split"]: r for r in table(page, A)}
  assert rows["types.bias"]["T1"] == ">0.450 [0.30, 0.51] c=1/3"
  assert rows["types.bias"]["security"] == ">0.450 [0.30, 0.51] c=1/3 (T1)"
  assert rows["first.4"]["security"] == "0.780 [0.70, 0.90] (T2)"
  # The roles: each task's value with its cap; absent where not run.
  keys = page.eval_on_selector_all(
      'section[data-task="cross-task"] thead th',
      "t => t.map(x => x.dataset.key)")
  assert keys == ["rank", "split", "security", "task:cifar10/fastnet",
                  "task:fashion_mnist/cnn", "p_next"]
  roles = {r["split"]: r for r in table(page, "cross-task")}
  assert roles["head"]["security"] == "1.500 [1.45, 1.55] 2/2 tasks"
  assert roles["head"]["task:cifar10/fastnet"] == (
      "2.000 [1.90, 2.10] (fc.head, T1) cap 10.000")
  assert roles["biases"]["task:cifar10/fastnet"] == "not run"
  assert roles["biases"]["security"] == "0.400 [0.35, 0.45] 1/2 tasks"
  page.select_option("#alpha-select", "0.99")
  roles = {r["split"]: r for r in table(page, "cross-task")}
  assert roles["head"]["security"] == ">1.975 [1.93, 2.02] 2/2 tasks c=1 task"
  assert roles["head"]["task:cifar10/fastnet"] == (
      ">2.703 [2.60, 2.80] c=3/3 at cap (fc.head, T1) cap 2.703")
  capped = ('section[data-task="cross-task"] tr[data-split="head"] '
            '.at-cap')
  assert page.get_attribute(capped, "title").startswith(
      "every seed censored: the value is the cap B/t0 (cap 2.703)")
  # Sorting by a task's column puts the role it did not run last.
  header(page, "cross-task", "task:cifar10/fastnet").click()
  assert splits(page, "cross-task") == ["head", "biases"]
  header(page, "cross-task", "task:cifar10/fastnet").click()
  assert splits(page, "cross-task") == ["head", "biases"]


@needs_chromium
def test_screenshot(page, tmp_path):
  # Lazy images load once scrolled into view.
  page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
  page.wait_for_function(
      "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
  page.evaluate("window.scrollTo(0, 0)")
  assert page.locator("img").count() == 3
  path = str(tmp_path / "site.png")
  page.screenshot(path=path, full_page=True)
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  shutil.copyfile(path, SCREENSHOT)


@needs_chromium
def test_committed_page_shows_every_entry_and_its_figures(browser):
  """The committed `results/site/index.html`, as a visitor opens it: every
  task's table with its rows (the submitted schemes among them) and every
  figure loaded from `results/leaderboard/`."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  path = os.path.join(root, "results", "site", "index.html")
  text = open(path, encoding="utf-8").read()
  start = text.index('id="board-data">') + len('id="board-data">')
  board = json.loads(text[start:text.index("</script>", start)])
  context = browser.new_context(viewport={"width": 1440, "height": 900})
  tab = context.new_page()
  errors = []
  tab.on("console", lambda m: errors.append(m.text)
         if m.type == "error" else None)
  tab.on("pageerror", lambda e: errors.append(str(e)))
  tab.goto("file://" + path)
  tab.wait_for_load_state("load")
  entries = board["tasks"] + ([board["cross_task"]]
                              if board["cross_task"] else [])
  for entry in entries:
    assert splits(tab, entry["id"]) == [r["split"] for r in entry["rows"]]
  shown = {split for e in board["tasks"] for split in splits(tab, e["id"])}
  for scheme in glob.glob(os.path.join(root, "results", "submissions", "*")):
    assert splitter.load_scheme_file(scheme).name in shown
  # A value's median, when pointing at it (at the table's ranking alpha).
  entry = board["tasks"][0]
  key = f"{entry.get('ranking_alpha', board.get('alpha')):g}"
  row, procedure, cell = next(
      (r, p, c) for r in entry["rows"]
      for p, c in sorted(r["by_alpha"][key]["cells"].items()) if c)
  value = (f'section[data-task="{entry["id"]}"] '
           f'tr[data-split="{row["split"]}"] '
           f'td[data-procedure="{procedure}"] .v')
  assert tab.get_attribute(value, "title") == (
      f"median {cell['median']:.3f} [{cell['median_lo']:.3f}, "
      f"{cell['median_hi']:.3f}]; IQM {cell['iqm']:.3f}")
  sizes = tab.eval_on_selector_all(  # Lazy images: load them all now.
      "section.task img", """imgs => Promise.all(imgs.map(i => {
        i.loading = "eager";
        return i.decode().then(() => i.naturalWidth, () => 0);
      }))""")
  assert len(sizes) == sum(len(e["figures"]) for e in entries)
  assert all(width > 100 for width in sizes), sizes
  context.close()
  assert not errors, errors


# --- Layout, figures, and the page without JavaScript. -------------------


def _root_path(*parts):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return os.path.join(root, *parts)


def layout(tab):
  """The page's scroll width, and for each section its table container's
  scroll and client widths, its box and each header's box (CSS px)."""
  return tab.evaluate("""() => {
    const box = n => {
      const b = n.getBoundingClientRect();
      return {left: b.left, right: b.right, width: b.width};
    };
    return {
      pageWidth: document.documentElement.scrollWidth,
      sections: [...document.querySelectorAll('section.task')].map(s => {
        const wrap = s.querySelector('.table-wrap');
        return {
          task: s.dataset.task, wrap: box(wrap),
          scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth,
          headers: Object.fromEntries([...s.querySelectorAll('thead th')].map(
              th => [th.dataset.key, box(th)])),
          split: box(s.querySelector('tbody td.split'))};
      })};
  }""")


def assert_tables_fit(tab, width):
  """At `width` px, no table scrolls sideways and every column, key ones
  (split, security, Pareto, P(harder)) included, lies inside its table's
  container and inside the viewport."""
  tab.set_viewport_size({"width": width, "height": 900})
  got = layout(tab)
  assert got["pageWidth"] <= width
  assert got["sections"]
  for s in got["sections"]:
    assert s["scrollWidth"] <= s["clientWidth"], s
    for key, box in s["headers"].items():
      assert s["wrap"]["left"] <= box["left"], (s["task"], key)
      assert box["right"] <= s["wrap"]["right"] <= width, (s["task"], key)


@needs_chromium
def test_tables_fit_1400_px(browser, site_path, tmp_path):
  context, tab, errors = _open(browser, site_path, 1400)
  assert_tables_fit(tab, 1400)
  # Wide enough that it fits by wrapping: a cell's parts share lines, and
  # the grid's winner goes under its value, each part whole.
  cell = tab.locator(f'section[data-task="{A}"] tr[data-split="first.4"] '
                     'td[data-procedure="T3"]')
  value, won = (cell.locator(x).bounding_box() for x in (".v", ".won"))
  assert won["y"] >= value["y"] + value["height"] - 1
  tab.screenshot(path=str(tmp_path / "tables_1400.png"), full_page=True)
  context.close()
  assert not errors, errors


@needs_chromium
def test_committed_page_fits_1400_px(browser, tmp_path):
  """Every table of the committed page, four procedures wide, fits."""
  context, tab, errors = _open(
      browser, _root_path("results", "site", "index.html"), 1400)
  assert_tables_fit(tab, 1400)
  tab.screenshot(path=str(tmp_path / "committed_1400.png"), full_page=True)
  context.close()
  assert not errors, errors


@needs_chromium
def test_narrow_screen_scrolls_inside_the_table(browser, site_path, tmp_path):
  """At 800 px a four-procedure table scrolls inside its container (the
  page does not); scrolled to its end, the key columns show and the split
  stays in view."""
  context, tab, errors = _open(browser, site_path, 800)
  tab.screenshot(path=str(tmp_path / "tables_800.png"), full_page=True)
  got = layout(tab)
  assert got["pageWidth"] <= 800
  a = next(s for s in got["sections"] if s["task"] == A)
  assert a["scrollWidth"] > a["clientWidth"]
  wrap = f'section[data-task="{A}"] .table-wrap'
  tab.eval_on_selector(wrap, "w => { w.scrollLeft = w.scrollWidth; }")
  assert tab.eval_on_selector(wrap, "w => w.scrollLeft") > 0
  a = next(s for s in layout(tab)["sections"] if s["task"] == A)
  inside = lambda box: (a["wrap"]["left"] <= box["left"] and
                        box["right"] <= a["wrap"]["right"] <= 800)
  for key in ("split", "security", "pareto", "p_next"):
    assert inside(a["headers"][key]), key
  assert inside(a["split"])
  assert a["headers"]["rank"]["right"] < a["wrap"]["left"]  # scrolled away
  tab.locator(wrap).screenshot(path=str(tmp_path / "table_800_scrolled.png"))
  context.close()
  assert not errors, errors


@needs_chromium
def test_header_row_has_no_band(page):
  """The header row has the page's background, and no header is taller
  than two lines: no band above the labels."""
  page.set_viewport_size({"width": 1400, "height": 900})
  background = page.evaluate(
      "getComputedStyle(document.documentElement).backgroundColor")
  headers = page.eval_on_selector_all(
      "table.leaderboard thead th", """ths => ths.map(th => {
        const s = getComputedStyle(th);
        return {key: th.dataset.key, background: s.backgroundColor,
                height: th.getBoundingClientRect().height,
                most: 2 * parseFloat(s.lineHeight) + parseFloat(s.paddingTop)
                      + parseFloat(s.paddingBottom)
                      + parseFloat(s.borderBottomWidth)};
      })""")
  assert len(headers) == 6 + 10 + 8
  for th in headers:
    assert th["background"] == background, th
    assert th["height"] <= th["most"] + 0.5, th


@needs_chromium
def test_figure_opens_large_on_click(browser, site_path, tmp_path):
  context, tab, errors = _open(browser, site_path, 1400)
  thumb = tab.locator(f'section[data-task="{A}"] figure img').nth(0)
  thumb.scroll_into_view_if_needed()
  tab.wait_for_function("i => i.complete && i.naturalWidth > 0",
                        arg=thumb.element_handle())
  small = thumb.bounding_box()
  assert tab.locator("dialog").count() == 0
  thumb.click()
  dialog = tab.locator("dialog.lightbox")
  assert dialog.evaluate("d => d.open")
  image = dialog.locator("img")
  tab.wait_for_function("i => i.complete && i.naturalWidth > 0",
                        arg=image.element_handle())
  big = image.bounding_box()
  natural = image.evaluate("i => i.naturalWidth")
  assert natural == 2160
  # Three times the thumbnail, its text at 60% of its size in the image or
  # more, all of it in the window.
  assert big["width"] >= 3 * small["width"], (big, small)
  assert big["width"] >= 0.6 * natural, big
  assert 0 <= big["x"] and big["x"] + big["width"] <= 1400
  assert 0 <= big["y"] and big["y"] + big["height"] <= 900
  assert dialog.locator(".caption").inner_text() == "Hardness vs alpha"
  assert dialog.locator("a").get_attribute("href") == "figures/a_curves.png"
  tab.screenshot(path=str(tmp_path / "figure_open.png"))
  image.click()  # Actual size, and back.
  assert image.bounding_box()["width"] == natural
  image.click()
  assert image.bounding_box()["width"] == big["width"]
  tab.keyboard.press("Escape")
  assert not dialog.evaluate("d => d.open")
  assert dialog.is_hidden()
  context.close()
  assert not errors, errors


@needs_chromium
def test_without_javascript_the_tables_show(browser, site_path, tmp_path):
  """With JavaScript off: every table, in rank order at its ranking alpha,
  as the script shows it; no controls; figures link to their images."""
  context, tab, errors = _open(browser, site_path, 1400)
  tasks = ["cross-task", A, B]
  shown = {task: table(tab, task) for task in tasks}
  context.close()
  assert not errors, errors
  context, tab, errors = _open(browser, site_path, 1400, javascript=False)
  assert tab.locator("th button").count() == 0  # the script did not run
  for task in tasks:
    assert tab.locator(f'section[data-task="{task}"] table').is_visible()
    assert table(tab, task) == shown[task]
    rows = tab.locator(f'section[data-task="{task}"] tbody tr')
    assert rows.count() == len(shown[task])
    assert all(rows.nth(i).is_visible() for i in range(rows.count()))
  assert splits(tab, A) == ["first.4", "last.2", "types.bias",
                            "layer.conv1", "random.0.5"]
  assert shown[A][0]["T1"] == ">0.950 [0.80, 1.10] c=1/3"
  assert tab.locator(".controls").is_hidden()
  assert tab.locator("header .js-only").is_hidden()
  assert "JavaScript is off" in tab.inner_text("noscript .legend")
  assert_tables_fit(tab, 1400)
  tab.screenshot(path=str(tmp_path / "nojs_1400.png"), full_page=True)
  tab.set_viewport_size({"width": 800, "height": 900})
  assert layout(tab)["pageWidth"] <= 800
  assert tab.locator(f'section[data-task="{A}"] td.split').first.is_visible()
  tab.screenshot(path=str(tmp_path / "nojs_800.png"), full_page=True)
  # A figure is a link to its image.
  tab.locator(f'section[data-task="{A}"] figure a').first.click()
  tab.wait_for_url("**/figures/a_curves.png")
  context.close()
  assert not errors, errors


def test_page_inlines_its_static_files():
  """The page holds the template's HTML with page.css and page.js inline,
  and every placeholder filled in."""
  page = site.render(make_board())
  files = importlib.resources.files(site.__package__) / "page"
  for name in ("page.css", "page.js"):
    assert (files / name).read_text(encoding="utf-8") in page
  template = (files / "template.html").read_text(encoding="utf-8")
  assert page.startswith(template[:template.index("$")])
  assert page.endswith(template[template.rindex("$js") + 3:])
  assert "$" not in page.replace(
      (files / "page.js").read_text(encoding="utf-8"), "")
