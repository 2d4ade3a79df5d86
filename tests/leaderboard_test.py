"""The whole leaderboard build on a real protocol v2 digits sweep: tables
ranked at the headline alpha, caps, censored values, the roles across
tasks, the page, determinism, and records that must be left out or refused.
"""

import copy
import glob
import json
import os
import re
import shutil

import pytest

from benchmark.publishing import board, leaderboard, site
from benchmark.science import hardness, protocol, statistics
from benchmark.sweeps import records, sweep
from conftest import built_once, run_cli
from contract.spec import InputError

TASK = "digits/mlp:num_updates=60"  # Seconds on CPU: 3 originals, 60 updates.
SLUG = "digits-mlp-num_updates=60"


def v2_results(tmp_path_factory) -> str:
  """A results folder (originals and records) of a tiny protocol v2 sweep,
  built once per test session and shared by the publishing tests (this
  file, figures, analysis, site): 9 splits (layers, types, random scalar
  shares, roles) x T1-T4 x 3 seeds. Read it only; copy it to write."""
  def build(folder):
    sweep.run_sweep(sweep.SweepSettings(
        task=TASK, splits=("layers", "types", "random_scalars", "roles"),
        seeds=3, bootstrap_reps=200, workdir=folder), log=lambda _: None)
  return built_once(tmp_path_factory, "v2-digits-results", build)


def v2_records(tmp_path_factory) -> list[dict]:
  good, bad = records.read_all(os.path.join(v2_results(tmp_path_factory),
                                            "records", SLUG))
  assert len(good) == 36 and not bad, "the shared v2 sweep failed"
  return good


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
  return v2_results(tmp_path_factory)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
  return v2_records(tmp_path_factory)


def built(results_dir, tmp_path):
  """A copy of `results_dir` with every output rebuilt."""
  target = str(tmp_path / "copy")
  shutil.copytree(results_dir, target)
  written, bad = leaderboard.build_all(target)
  return target, written, bad


def as_v1(record: dict) -> dict:
  """The record as protocol v1 wrote it: its schema id, its variant label,
  no v2 fields (a valid `mcbench.record/1`, with its own content hash)."""
  old = copy.deepcopy(record)
  old["schema"] = records.V1_SCHEMA_ID
  old["adversary"]["variant"] = "data1-budget1-init-ft0.0003"
  del old["protocol"]
  for field in ("mask_sha256", "roles"):
    del old["split"][field]
  for row in old["hardness"]:
    row.pop("cap")
    row.pop("won", None)
  old["content_sha256"] = records.content_hash(old)
  records.validate(old)
  return old


def table_rows(text: str, heading: str) -> list[list[str]]:
  """The body rows of the first table after `heading`, as cells."""
  lines = text[text.index(heading):].splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith("| "))
  rows = []
  for line in lines[start + 2:]:
    if not line.startswith("| "):
      break
    rows.append(line[2:-2].split(" | "))
  return rows


def test_markdown_ranks_at_the_headline_alpha_with_caps_and_notes(
    results_dir, good, tmp_path):
  target, written, bad = built(results_dir, tmp_path)
  assert not bad
  headline = good[0]["protocol"]["headline_alpha"]
  assert headline is not None
  key = board.alpha_key(headline)
  entry = board.build(good)["tasks"][0]
  assert entry["ranking_alpha"] == headline
  text = open(os.path.join(target, "LEADERBOARD.md")).read()
  rows = table_rows(text, f"## {TASK}")
  assert [row[1] for row in rows] == [r["split"] for r in entry["rows"]]
  assert len(rows) == 9
  securities = [r["by_alpha"][key]["security"]["iqm"] for r in entry["rows"]]
  assert securities == sorted(securities, reverse=True)
  front = statistics.pareto_front([r["share"] for r in entry["rows"]],
                                  securities)
  assert [row[-3] == "★" for row in rows] == front
  assert any(front) and not all(front)
  # Which alpha ranks, the rule in one line, each alpha's cap beside it.
  caps = {a: board.cap_of(good, a) for a in good[0]["alphas"]}
  assert (f"- Ranked by security at alpha = {headline:g}, the task's "
          f"headline alpha: {good[0]['protocol']['headline_rule']}") in text
  header = text[text.index("| rank | split"):].splitlines()[0]
  assert f"security α={headline:g} (ranks; cap {caps[headline]:.3f})" in header
  for alpha, cap in caps.items():
    assert f"alpha = {alpha:g}: cap {cap:.3f}" in text
    if alpha != headline:
      assert f"security α={alpha:g} (cap {cap:.3f})" in header
  # T3/T4: the oracle choice said, and each cell's most frequent winner.
  assert ("T3 and T4 take the best schedule of a small fine-tuning grid in "
          "hindsight") in text
  assert re.search(r"\((ft|peak)-(constant|linear) \d/\d\)", text)
  # Made from a tree with uncommitted changes and 3 seeds: not publishable.
  assert "- Not publishable: 36 of 36 records (" in text
  # The per-task tables: the ranking alpha first, its order everywhere.
  tables = open(os.path.join(target, "leaderboard", f"{SLUG}.md")).read()
  headings = re.findall(r"^#### (.*)$", tables, re.M)
  assert headings[0] == (f"alpha = {headline:g} ranks this task (cap "
                         f"{caps[headline]:.3f}: a split as hard as training "
                         "from scratch reads 1)")
  assert len(headings) == len(caps)
  for heading in headings:
    assert [row[1] for row in table_rows(tables, heading)] == [
        r["split"] for r in entry["rows"]]
  for link in re.findall(r"\]\((records/[^)]+)\)", text):
    assert os.path.isfile(os.path.join(target, link)), link
  for link in re.findall(r"\]\((leaderboard/[^)]+\.png)\)", text):
    assert open(os.path.join(target, link), "rb").read(4) == b"\x89PNG"
  page = open(os.path.join(target, "site", "index.html")).read()
  assert "layer.hidden1" in page and f"../records/{SLUG}/" in page
  assert os.path.join(target, "site", "index.html") in written


def test_ranking_follows_the_headline_alpha_or_says_none_can(good):
  def with_headline(alpha):
    return [{**r, "protocol": {**r["protocol"], "headline_alpha": alpha}}
            for r in good]

  for alpha in good[0]["alphas"]:
    entry = board.build(with_headline(alpha))["tasks"][0]
    key = board.alpha_key(alpha)
    assert entry["ranking_alpha"] == alpha
    values = [r["by_alpha"][key]["security"]["iqm"] for r in entry["rows"]]
    assert values == sorted(values, reverse=True)
    assert [r["by_alpha"][key]["rank"] for r in entry["rows"]] == list(
        range(1, 10))
  orders = {tuple(r["split"] for r in board.build(with_headline(a))[
      "tasks"][0]["rows"]) for a in good[0]["alphas"]}
  assert len(orders) > 1  # The alpha matters on this sweep.
  # No alpha clears the noise: ordered at the lowest, and said so.
  entry = board.build(with_headline(None))["tasks"][0]
  lowest = min(good[0]["alphas"])
  assert entry["ranking_alpha"] == lowest and entry["headline_alpha"] is None
  assert entry["notes"][0].startswith("No alpha can rank this task")
  assert f"lowest alpha, {lowest:g}" in entry["notes"][0]
  markdown = leaderboard.tables_markdown([entry])
  assert f"#### alpha = {lowest:g} ranks this task" in markdown


def test_censored_security_keeps_its_mark_in_markdown_and_page(good):
  # T1 and T3 only: at alpha 0.99 some splits never recover in any seed.
  subset = [r for r in good if r["procedure"]["name"] in ("T1", "T3")]
  data = board.build(subset)
  entry = data["tasks"][0]
  censored = [(row, key, row["by_alpha"][key]["security"])
              for row in entry["rows"] for key in row["by_alpha"]
              if (row["by_alpha"][key]["security"] or {}).get("censored")]
  assert censored and any(s["at_cap"] for _, _, s in censored)
  markdown = leaderboard.board_markdown(data)
  tables = leaderboard.tables_markdown([entry])
  page = site.render(data)
  start = page.index('id="board-data">') + len('id="board-data">')
  embedded = json.loads(page[start:page.index("</script>", start)])
  shown = {r["split"]: r for r in embedded["tasks"][0]["rows"]}
  for row, key, security in censored:
    text = leaderboard.security_text(security)
    assert text.startswith(f">{security['iqm']:.3f} [")
    assert (" at cap (" in text) == security["at_cap"]
    assert f" c={security['censored']}/{security['seeds']}" in text
    assert text in tables
    if key == board.alpha_key(entry["ranking_alpha"]):
      line = next(l for l in markdown.splitlines()
                  if l.startswith(f"| {row['by_alpha'][key]['rank']} | "
                                  f"{row['split']} |"))
      assert f" | {text} | " in line
    on_page = shown[row["split"]]["by_alpha"][key]["security"]
    assert on_page["censored"] == security["censored"] > 0
    assert on_page["at_cap"] == security["at_cap"]
    # At the cap, the value is the cap the heading shows.
    if security["at_cap"]:
      assert security["iqm"] == pytest.approx(entry["caps"][key])


def test_rebuild_is_byte_identical(results_dir, tmp_path):
  first, written, _ = built(results_dir, tmp_path / "a")
  second, _, _ = built(results_dir, tmp_path / "b")
  assert len(written) >= 6
  for path in written:
    relative = os.path.relpath(path, first)
    assert open(path, "rb").read() == open(
        os.path.join(second, relative), "rb").read(), relative


def test_v1_records_are_left_out_with_one_notice_per_folder(
    results_dir, good, tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(results_dir, target)
  folder = os.path.join(target, "records", SLUG)
  for record in good[:2]:
    records.write(folder, as_v1(record))
  assert len(glob.glob(os.path.join(folder, "*.json"))) == 38
  written, bad = leaderboard.build_all(target)
  notice = (f"{folder}: 2 record(s) of protocol v1 left out, never mixed "
            "with protocol v2")
  assert bad == [notice] and board.is_notice(notice)
  text = open(os.path.join(target, "LEADERBOARD.md")).read()
  assert "ft0.0003" not in text and (
      f"## Left out\n\n- records/{SLUG}: 2 record(s) of protocol v1 left "
      "out, never mixed with protocol v2") in text
  assert "2 record(s) of protocol v1" in open(
      os.path.join(target, "site", "index.html")).read()
  for path in written:
    if path.endswith(".md"):
      assert "ft0.0003" not in open(path).read(), path
  # The same for one task's tables, and a notice alone is no failure.
  markdown, bad = leaderboard.write(folder, str(tmp_path / "task.md"))
  assert bad == [notice] and "ft0.0003" not in markdown
  assert not leaderboard.report_left_out(bad)
  assert leaderboard.report_left_out(bad + ["record x.json is corrupt"])
  with pytest.raises(InputError, match="protocol v1"):
    board.build(good + [as_v1(good[0])])


def test_bad_records_stop_the_build_and_nothing_is_written(
    results_dir, good, tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(results_dir, target)
  paths = sorted(glob.glob(os.path.join(target, "records", "*", "*.json")))
  edited = json.load(open(paths[0]))
  edited["seeds"][0]["performance"][0] = 0.5
  json.dump(edited, open(paths[0], "w"))
  other = json.load(open(paths[1]))  # Measured against other originals.
  other["originals_sha256"] = "0" * 64
  other["content_sha256"] = records.content_hash(other)
  json.dump(other, open(paths[1], "w"))
  open(paths[2], "w").write("{ not json")
  records.write(os.path.join(target, "records", SLUG), as_v1(good[3]))

  before = {path: open(path, "rb").read() for path in glob.glob(
      os.path.join(target, "**"), recursive=True) if os.path.isfile(path)}
  result = run_cli("benchmark.leaderboard", f"--workdir={target}")
  assert result.returncode == 2, result.stderr[-2000:]
  (line,) = [l for l in result.stderr.splitlines()
             if l.startswith("mcbench")]
  assert line.startswith("mcbench: error: 3 record(s) cannot be trusted, "
                         "nothing written (first: ")
  assert os.path.basename(paths[0]) in line  # The first, in path order.
  after = {path: open(path, "rb").read() for path in glob.glob(
      os.path.join(target, "**"), recursive=True) if os.path.isfile(path)}
  assert after == before
  # Each bad record is named by what reads the folder.
  _, bad = leaderboard.read_published(target)
  assert any("corrupt or was edited" in e and os.path.basename(paths[0]) in e
             for e in bad)
  assert any("not the published" in e and "000000000000" in e for e in bad)
  assert any("cannot read" in e and os.path.basename(paths[2]) in e
             for e in bad)
  assert sum(board.is_notice(e) for e in bad) == 1  # The v1 record's folder.


@pytest.mark.parametrize("provenance", [
    {"git_commit": "1" * 40 + "-dirty"},
    {"git_commit": "1" * 40 + "+wip"},
    {"git_commit": "unknown"},
    {"publishable": False, "unpublishable_because": ["private experiment"]},
])
def test_published_build_refuses_unpublishable_records_and_writes_nothing(
    results_dir, tmp_path, monkeypatch, provenance):
  target = str(tmp_path / "results")
  shutil.copytree(results_dir, target)
  monkeypatch.setattr(protocol, "is_published_workdir",
                      lambda workdir: os.path.realpath(workdir) ==
                      os.path.realpath(target))
  paths = sorted(glob.glob(os.path.join(target, "records", SLUG, "*.json")))
  for path in paths:  # Provenance is outside the content hash.
    record = json.load(open(path))
    record["provenance"].update(git_commit="1" * 40, publishable=True,
                                unpublishable_because=[])
    json.dump(record, open(path, "w"))
  clean = str(tmp_path / "clean")
  shutil.copytree(target, clean)
  monkeypatch.setattr(protocol, "is_published_workdir",
                      lambda workdir: os.path.realpath(workdir) in (
                          os.path.realpath(target), os.path.realpath(clean)))
  written, bad = leaderboard.build_all(clean)  # Clean commits: published.
  assert not bad and "Not publishable" not in open(written[-2]).read()
  for path in paths[3:5]:
    record = json.load(open(path))
    record["provenance"].update(provenance)
    json.dump(record, open(path, "w"))

  def snapshot():
    return {path: open(path, "rb").read() for path in glob.glob(
        os.path.join(target, "**"), recursive=True) if os.path.isfile(path)}

  before = snapshot()
  with pytest.raises(InputError) as raised:
    leaderboard.build_all(target)
  message = str(raised.value)
  assert "\n" not in message
  assert message.startswith(f"2 record(s) in the published {target} cannot "
                            "be published (")
  assert os.path.basename(paths[3]) in message
  with pytest.raises(InputError, match=r"^2 record\(s\) in the published"):
    leaderboard.write(os.path.join(target, "records", SLUG),
                      os.path.join(target, "leaderboard", f"{SLUG}.md"))
  assert snapshot() == before
  assert not os.path.exists(os.path.join(target, "LEADERBOARD.md"))
  assert not os.path.exists(os.path.join(target, "site"))
  # Any other folder builds, and says which records cannot be published.
  monkeypatch.undo()
  leaderboard.build_all(target)
  assert "- Not publishable: 2 of 36 records (" in open(
      os.path.join(target, "LEADERBOARD.md")).read()


def test_records_without_published_originals_are_refused(results_dir,
                                                         tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(os.path.join(results_dir, "records"),
                  os.path.join(target, "records"))
  with pytest.raises(InputError, match="has no published originals"):
    leaderboard.build_all(target)


def twin(source: list[dict], seeds: int) -> list[dict]:
  """`source` as a second task: other split names (the roles stay), the
  `biases` role not run, `seeds` seeds, every hardness doubled (caps too)."""
  out = []
  for record in source:
    if "biases" in record["split"]["roles"]:
      continue
    other = copy.deepcopy(record)
    other["task"] = "digits/mlp:twin"
    other["split"]["name"] = "twin-" + other["split"]["name"]
    other["seeds"] = other["seeds"][:seeds]
    for row in other["hardness"]:
      for field in ("t", "hardness", "censored", "won"):
        if field in row:
          row[field] = row[field][:seeds]
      row["hardness"] = [2 * h for h in row["hardness"]]
      row["cap"] = 2 * row["cap"]
      row["summary"] = {**hardness.interval_estimates(row["hardness"], 200),
                        "censored": sum(row["censored"]),
                        "censored_bound": row["cap"]}
    out.append(other)
  return out


def test_cross_task_pools_by_role_and_weighs_tasks_equally(good):
  subset = [r for r in good if r["procedure"]["name"] in ("T1", "T3")]
  both = subset + twin(subset, seeds=2)
  data = board.build(both)
  cross = data["cross_task"]
  assert cross["kind"] == "roles"
  assert cross["tasks"] == [TASK, "digits/mlp:twin"]
  entries = {e["task"]: e for e in data["tasks"]}
  # Ranked at the lowest headline alpha of the tasks.
  assert cross["ranking_alpha"] == min(
      e["headline_alpha"] for e in entries.values())
  roles = {row["role"]: row for row in cross["rows"]}
  assert set(roles) == {"all", "all-but-head", "head", "first-layer",
                        "kernels", "biases"}
  markdown = leaderboard.board_markdown(data)
  pooled_censored = 0
  for alpha in good[0]["alphas"]:
    key = board.alpha_key(alpha)
    for role, row in roles.items():
      at = row["by_alpha"][key]
      values = []
      for task, entry in entries.items():
        name = board.role_splits([r for r in both
                                  if r["task"] == task]).get(role)
        cell = at["per_task"][task]
        if name is None:
          assert cell is None  # Not run: absent, not zero.
          continue
        assert cell["split"] == name
        assert cell["cap"] == entry["caps"][key]
        security = next(r for r in entry["rows"] if r["split"] == name)[
            "by_alpha"][key]["security"]
        assert cell["iqm"] == security["iqm"]
        assert cell["censored"] == security["censored"]
        values.append(security["iqm"])
      # Each task weighs the same, whatever its seeds (3 and 2 here).
      pooled = at["security"]
      assert pooled["mean"] == pytest.approx(sum(values) / len(values))
      assert pooled["lo"] <= pooled["mean"] <= pooled["hi"]
      assert pooled["tasks"] == len(values) and pooled["of"] == 2
      if pooled["censored"]:
        pooled_censored += 1
        text = leaderboard.pooled_text(pooled)
        assert text.startswith(">") and f"{pooled['censored']} censored" in text
  assert pooled_censored
  # The head: `layer.head` on one task, `twin-layer.head` on the other.
  head = roles["head"]["by_alpha"][board.alpha_key(cross["ranking_alpha"])]
  assert {c["split"] for c in head["per_task"].values()} == {
      "layer.head", "twin-layer.head"}
  assert roles["biases"]["by_alpha"][board.alpha_key(
      cross["ranking_alpha"])]["per_task"]["digits/mlp:twin"] is None
  rows = table_rows(markdown, "## Across tasks: roles")
  biases = next(row for row in rows if row[1] == "biases")
  assert biases[-2] == "not run" and "(1 of 2 tasks" in biases[2]
  assert all("cap " in cell for row in rows for cell in row[-3:-1]
             if cell != "not run")
  assert board.build(subset)["cross_task"] is None


def test_compare_two_splits_and_two_roles(results_dir, good):
  result = board.compare(good, "role.all", "type.biases", 0.9)
  assert result["tasks"] == [TASK]
  by_key = {(r["split"]["name"], r["procedure"]["name"]): r for r in good}
  entry = board.task_entry(good, "", 0.9)
  rows = {row["split"]: row["by_alpha"]["0.9"]["security"]
          for row in entry["rows"]}
  seeds = [board.hardness_row(by_key[name, rows[name]["procedure"]], 0.9)[
      "hardness"] for name in ("role.all", "type.biases")]
  assert result["p"] == statistics.probability_of_improvement(
      [seeds[0]], [seeds[1]])["p"]
  # Roles match each task's split by its mask, whatever its name.
  both = board.compare(good + twin(good, 3), "role.head", "role.first-layer",
                       0.9)
  assert both["tasks"] == [TASK, "digits/mlp:twin"]
  printed = run_cli("benchmark.leaderboard", f"--workdir={results_dir}",
                    "--compare=role.all,type.biases", "--alpha=0.9")
  assert printed.returncode == 0, printed.stderr[-2000:]
  assert printed.stdout.startswith(
      f"P(role.all harder to complete than type.biases) at alpha 0.9 = "
      f"{result['p']:.3f}")
  with pytest.raises(InputError,
                     match="no task has records of both 'all' and 'nothing'"):
    leaderboard.compare_line(results_dir, ["all", "nothing"], 0.99)


def test_a_partial_sweep_says_what_it_lacks():
  def record(split, procedure):
    return {"split": {"name": split}, "procedure": {"name": procedure}}

  complete = [record(s, p) for s in "ab" for p in ("T1", "T2", "T3", "T4")]
  assert board.coverage_note(complete) is None
  partial = [record("a", "T1"), record("a", "T2"), record("b", "T1")]
  assert board.coverage_note(partial) == (
      "Partial sweep: T3, T4 not measured; 1 of 2 split(s) without every "
      "procedure shown (their missing cells read —). Security is the "
      "minimum over the procedures measured, so it can only fall as the "
      "rest arrives.")


def test_reading_guide_explains_the_top_row(good):
  """The lines under `make demo`'s tables name the headline alpha, the top
  split with its security and procedure, and the cap of censored cells: the
  numbers of the board's own first row."""
  [entry] = board.build(good)["tasks"]
  key = board.alpha_key(entry["ranking_alpha"])
  top = entry["rows"][0]
  security = top["by_alpha"][key]["security"]
  lines = leaderboard.reading_guide(entry)
  assert len(lines) == 3
  assert f"alpha {entry['ranking_alpha']:g}" in lines[0]
  assert f"`{top['split']}`" in lines[1]
  assert leaderboard.security_text(security) in lines[1]
  assert f"best procedure, {security['procedure']}," in lines[1]
  assert f"B/t0 = {entry['caps'][key]:.3f}" in lines[2]
  # A board whose top row is another split says so.
  other = copy.deepcopy(entry)
  other["rows"] = other["rows"][1:]
  assert f"`{other['rows'][0]['split']}`" in leaderboard.reading_guide(
      other)[1]
