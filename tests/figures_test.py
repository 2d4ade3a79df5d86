"""Figures from a real protocol v2 digits sweep: deterministic bytes,
censored values marked as lower bounds (`>`), caps drawn, v1 refused."""

import pytest

from benchmark.publishing import board, figures
from leaderboard_test import as_v1, v2_records
from contract.spec import InputError


@pytest.fixture(scope="module")
def good(tmp_path_factory):
  return v2_records(tmp_path_factory)


@pytest.fixture
def drawn(monkeypatch):
  """The figures drawn, kept open instead of saved."""
  kept = []
  monkeypatch.setattr(figures, "_save",
                      lambda figure, output: kept.append(figure) or output)
  return kept


def test_figure_from_records_is_deterministic(good, tmp_path):
  a = figures.hardness_curves(good, str(tmp_path / "a.png"))
  b = figures.hardness_curves(good[::-1], str(tmp_path / "b.png"))
  data = open(a, "rb").read()
  assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
  assert data == open(b, "rb").read()


def test_protocol_v1_records_are_not_drawn(good, tmp_path):
  with pytest.raises(InputError, match="protocol v1"):
    figures.hardness_curves(good + [as_v1(good[0])], str(tmp_path / "x.png"))


def test_censored_points_are_hollow_triangles_under_the_cap(good, drawn):
  figures.hardness_curves(good, "unused.png")
  [axis, *_] = drawn[0].axes
  censored = [line for line in axis.lines if line.get_marker() == "^"
              and line.get_xdata().size == 1]
  solid = [line for line in axis.lines if line.get_marker() == "o"]
  assert censored and solid  # T1 (the first panel) leaves some censored.
  assert all(line.get_markerfacecolor() == "none" for line in censored)
  cap = next(line for line in axis.lines
             if line.get_label().startswith("cap B/t0"))
  by_alpha = {row["alpha"]: row["cap"] for row in good[0]["hardness"]}
  assert dict(zip(cap.get_xdata(), cap.get_ydata())) == by_alpha
  for line in censored:
    assert line.get_ydata()[0] <= by_alpha[line.get_xdata()[0]] + 1e-9


def test_censored_security_is_labelled_with_its_mark(good, drawn):
  subset = [r for r in good if r["procedure"]["name"] in ("T1", "T3")]
  entry = board.build(subset)["tasks"][0]
  key = "0.99"
  securities = {row["split"]: row["by_alpha"][key]["security"]
                for row in entry["rows"]}
  censored = {name: s for name, s in securities.items() if s["censored"]}
  assert censored and any(s["at_cap"] for s in censored.values())
  figures.pareto(entry, key, "unused.png")
  labels = [text.get_text() for text in drawn[0].axes[0].texts]
  for security in censored.values():
    label = figures.value_label(security)
    assert label.startswith(f">{security['iqm']:.2f}")
    assert label.endswith(" at cap") == security["at_cap"]
    assert any(text.endswith(label) for text in labels), (label, labels)
  assert not any(">" in text for text in labels
                 if text.split(" ")[0] in securities
                 and not securities[text.split(" ")[0]]["censored"])
  assert any(line.get_ydata()[0] == pytest.approx(entry["caps"][key])
             for line in drawn[0].axes[0].lines
             if line.get_label().startswith("cap "))
  figures.security_intervals(entry, key, "unused.png")
  ticks = [t.get_text() for t in drawn[1].axes[0].get_yticklabels()]
  for name, security in censored.items():
    assert f"{name} ({figures.value_label(security)})" in ticks
