"""The leaderboard as one static web page.

`render(board)` turns the leaderboard data (built by `benchmark.leaderboard`)
into a self-contained HTML page: no external resources, no server; it works
when opened from `file://`. It fills in the template `page/template.html`
with the page's HTML, and inlines `page/page.css` and `page/page.js`.

Every table is HTML, so the page reads without JavaScript: one section per
(task, adversary variant) entry with its notes (which alpha ranks it and why,
the fine-tuning grid's oracle choice, records that cannot be published), its
caps, its table in rank order at its ranking alpha and its figures (each a
link to the full-size image), and one for the roles across tasks when
present. The rows at the board's other alphas wait in `<template>` elements
beside each table's body. The script only enhances the page: it sorts a
table (click a header; a second click reverses), filters by task, by
procedure and by alpha (by default each table at its own ranking alpha), and
opens figures large. Every censored value keeps its `>` and `c=k/n`; values
at the cap say so. The board itself is embedded as JSON in a
`<script type="application/json" id="board-data">` element, for tools.

The page is a pure function of `board`: the same data gives the same bytes
(no timestamps, no random ids, the JSON's keys sorted), so it can be
committed and diffed.

    from benchmark.publishing import site
    site.write(board, "results/site/index.html")
"""

from __future__ import annotations

import dataclasses
import functools
import html
import importlib.resources
import json
import math
import string
from typing import Any, Callable

from benchmark.publishing import board as board_lib
from benchmark.sweeps import storage

DASH = "\u2014"
_ROLES = "roles"
_CROSS_TASK = "cross-task"


def embed_json(data: Any) -> str:
  """`data` as canonical JSON that is safe inside a `<script>` element.

  Keys are sorted and separators compact. `</` becomes `<\\/` and `<!--`
  becomes `\\u003c!--` (both still decode to the same JSON strings), so no
  string in the data can close the script element or switch the HTML parser
  into its escaped-comment states.
  """
  text = json.dumps(data, sort_keys=True, separators=(",", ":"),
                    allow_nan=False)
  return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def render(board: dict[str, Any]) -> str:
  """Returns the leaderboard page for `board`, byte-for-byte deterministic.

  Args:
    board: the leaderboard data: `title`, `note`, `alphas`, `tasks` (one
      entry per task and adversary variant), `cross_task` (the roles across
      tasks, or None) and `left_out`, as `benchmark.leaderboard` builds it.

  Returns:
    The page's HTML.
  """
  entries = _entries(board)
  alphas = board.get("alphas") or []
  return string.Template(_asset("template.html")).substitute(
      title=_text(board.get("title", "leaderboard")),
      css=_inline(_asset("page.css"), "style"),
      header=_header(board),
      controls=_controls(entries, alphas),
      sections="\n".join(_section(entry, heading, alphas)
                         for entry, heading in entries),
      data=embed_json(board),
      js=_inline(_asset("page.js"), "script"))


def write(board: dict[str, Any], path: str) -> str:
  """Writes `render(board)` to `path` atomically and returns `path`."""
  storage.write_text_atomic(path, render(board))
  return path


# --- The page's static files. ------------------------------------------


@functools.cache
def _asset(name: str) -> str:
  """The text of the static file `page/<name>` shipped with this package."""
  return (importlib.resources.files(__package__) / "page" / name).read_text(
      encoding="utf-8")


def _inline(text: str, tag: str) -> str:
  """`text`, checked to be safe inside a `<tag>` element of the page.

  Raises:
    ValueError: if `text` would close the element early.
  """
  if f"</{tag}" in text.lower():
    raise ValueError(f"a static file holds </{tag}: it cannot be inlined")
  return text


# --- HTML. -------------------------------------------------------------


def _text(value: Any) -> str:
  """`value` as escaped HTML text (`&`, `<` and `>`)."""
  return html.escape(str(value), quote=False)


def _attrs(attrs: dict[str, Any] | None) -> str:
  """` key="value"` for each attribute, escaped; None and False leave one
  out, True writes it bare."""
  return "".join(
      "" if value is None or value is False else
      f" {key}" if value is True else
      f' {key}="{html.escape(str(value), quote=True)}"'
      for key, value in (attrs or {}).items())


def _tag(name: str, attrs: dict[str, Any] | None = None,
         *children: str | None) -> str:
  """An element: `<name attrs>children</name>`.

  Args:
    name: the tag name.
    attrs: attribute values (see `_attrs`).
    *children: HTML, already escaped; None is skipped.

  Returns:
    The element's HTML.
  """
  return f"<{name}{_attrs(attrs)}>{''.join(filter(None, children))}</{name}>"


def _void(name: str, attrs: dict[str, Any]) -> str:
  """An element without content or end tag, such as `<img>`."""
  return f"<{name}{_attrs(attrs)}>"


def _span(cls: str, text: str, title: str | None = None) -> str:
  """A `<span class=cls>` holding `text` (escaped here)."""
  return _tag("span", {"class": cls, "title": title}, _text(text))


# --- Numbers, as the page writes them. --------------------------------


def _is_num(value: Any) -> bool:
  """Whether `value` is a finite number (not a bool)."""
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def _number(value: Any) -> str:
  """`value` as JavaScript's `String(value)` writes it: 1.0 reads 1."""
  if isinstance(value, float) and value.is_integer():
    return str(int(value))
  return str(value)


def _fixed(value: Any, digits: int) -> str:
  """`value` with `digits` decimals, or a dash where it is no number."""
  return f"{value:.{digits}f}" if _is_num(value) else DASH


def _alpha_label(alpha: Any) -> str:
  """An alpha's label: "α = 0.9"."""
  return "\u03b1 = " + _number(alpha)


def _at_alpha(row: dict[str, Any], alpha: float) -> dict[str, Any]:
  """The row's values at `alpha` (rank, security, cells, ...); {} if none."""
  return (row.get("by_alpha") or {}).get(board_lib.alpha_key(alpha)) or {}


def _cap_at(entry: dict[str, Any], alpha: float) -> Any:
  """The entry's cap at `alpha`, None if it has none."""
  return (entry.get("caps") or {}).get(board_lib.alpha_key(alpha))


# --- Cells. -----------------------------------------------------------


def _summary(s: dict[str, Any] | None) -> list[str] | None:
  """A hardness summary as spans, or None without an IQM.

  The IQM (`>` where censored: a lower bound; its median in the title), the
  interval, the censoring (`c=k/n`), "at cap", the grid's most frequent
  winner. The page joins the spans with spaces, where a cell may wrap.
  """
  if not s or not _is_num(s.get("iqm")):
    return None
  censored = _is_num(s.get("censored")) and s["censored"] > 0
  title = None
  if _is_num(s.get("median")):
    interval = (f" [{_fixed(s.get('median_lo'), 3)}, "
                f"{_fixed(s.get('median_hi'), 3)}]"
                if _is_num(s.get("median_lo")) else "")
    title = f"median {s['median']:.3f}{interval}; IQM {s['iqm']:.3f}"
  spans = [_span("v", (">" if censored else "") + f"{s['iqm']:.3f}", title)]
  if _is_num(s.get("lo")) or _is_num(s.get("hi")):
    spans.append(_span("ci", f"[{_fixed(s.get('lo'), 2)}, "
                             f"{_fixed(s.get('hi'), 2)}]"))
  if censored:
    k, n = _number(s["censored"]), _number(s.get("seeds"))
    spans.append(_span("cens", f"c={k}/{n}",
                       f"{k} of {n} seeds never recovered: a lower bound"))
  if s.get("at_cap"):
    spans.append(_span("at-cap", "at cap",
                       "every seed censored: the value is the cap B/t0 "
                       f"({board_lib.cap_text(s.get('cap'))})"))
  won = s.get("won") or {}
  if won.get("schedule"):
    spans.append(_span(
        "won", f"{won['schedule']} {_number(won.get('count'))}/"
               f"{_number(won.get('reached'))}",
        "schedule of the fine-tuning grid that first reached alpha in the "
        "most seeds (of those that reached it after training)"))
  return spans


def _pooled(s: dict[str, Any] | None) -> list[str] | None:
  """A pooled security across tasks (mean over tasks) as spans, or None."""
  if not s or not _is_num(s.get("mean")):
    return None
  censored = _is_num(s.get("censored")) and s["censored"] > 0
  spans = [_span("v", (">" if censored else "") + f"{s['mean']:.3f}"),
           _span("ci", f"[{_fixed(s.get('lo'), 2)}, {_fixed(s.get('hi'), 2)}]"),
           _span("count", f"{_number(s.get('tasks'))}/{_number(s.get('of'))} "
                          "tasks")]
  if censored:
    n = s["censored"]
    spans.append(_span("cens", f"c={_number(n)} task{'' if n == 1 else 's'}",
                       f"{_number(n)} task(s) censored: a lower bound"))
  return spans


def _cell_html(spans: list[str] | None) -> str | None:
  """Spans joined by spaces (the cell's wrap points); None stays None."""
  return None if spans is None else " ".join(spans)


def _iqm(s: dict[str, Any] | None) -> Any:
  """A summary's IQM (its sort value), None without one."""
  return s.get("iqm") if s else None


def _rank_cell(row: dict[str, Any], at: dict[str, Any]) -> str | None:
  """The rank at the alpha shown; None where unranked."""
  del row
  return _number(at["rank"]) if _is_num(at.get("rank")) else None


def _p_next_cell(row: dict[str, Any], at: dict[str, Any]) -> str | None:
  """P(harder than the next-ranked row); None for the last ranked row."""
  del row
  return _fixed(at["p_next"], 2) if _is_num(at.get("p_next")) else None


def _split_cell(row: dict[str, Any], at: dict[str, Any]) -> str:
  """The split's (or role's) name."""
  del at
  return _text(row["split"])


def _share_cell(row: dict[str, Any], at: dict[str, Any]) -> str | None:
  """The share withheld, in percent, with the count of scalars."""
  del at
  if not _is_num(row.get("share")):
    return None
  withheld = row.get("withheld")
  count = (_span("count", f"({math.floor(withheld + 0.5):,})")
           if _is_num(withheld) else None)
  return " ".join(filter(None, [f"{row['share'] * 100:.2f}%", count]))


def _procedure_cell(procedure: str, row: dict[str, Any],
                    at: dict[str, Any]) -> str | None:
  """The hardness under `procedure`, a link to its record where published."""
  content = _cell_html(_summary((at.get("cells") or {}).get(procedure)))
  href = (row.get("records") or {}).get(procedure)
  if not href:
    return content
  return _tag("a", {"href": href, "title": "record JSON"}, content or DASH)


def _security_cell(row: dict[str, Any], at: dict[str, Any]) -> str | None:
  """The security, with the procedure that attains it in brackets."""
  del row
  spans = _summary(at.get("security"))
  if spans and at["security"].get("procedure"):
    spans.append(_span("proc", f"({at['security']['procedure']})"))
  return _cell_html(spans)


def _pareto_cell(row: dict[str, Any], at: dict[str, Any]) -> str:
  """A star on the Pareto front, else nothing (not a dash: not missing)."""
  del at
  if not row.get("pareto"):
    return ""
  return _tag("span", {"class": "pareto", "role": "img",
                       "aria-label": "Pareto-optimal",
                       "title": "Pareto-optimal: no other split is at least "
                                "as hard while withholding less"}, "\u2605")


def _task_cell(task: str, row: dict[str, Any],
               at: dict[str, Any]) -> str:
  """A role's security on `task`, with the split and procedure, and the cap."""
  del row
  c = (at.get("per_task") or {}).get(task)
  if not c:
    return _span("missing", "not run")
  spans = _summary(c) or [DASH]
  if c.get("procedure"):
    spans.append(_span("proc", f"({c.get('split')}, {c['procedure']})"))
  spans.append(_span("cap", board_lib.cap_text(c.get("cap"))))
  return " ".join(spans)


# --- Columns. ---------------------------------------------------------

# `(row, at) -> ...`: `at` is the row's values at the alpha shown.
_Getter = Callable[[dict[str, Any], dict[str, Any]], Any]


@dataclasses.dataclass(frozen=True)
class _Column:
  """A table's column.

  Attributes:
    key: the column's `data-key`, unique in its table.
    label: the header's text.
    title: the header's tooltip.
    value: `(row, at) -> value` that sorts the column (None, or no number,
      where missing); `at` is the row's values at the alpha shown.
    cell: `(row, at) -> HTML` of the cell; None where missing (a dash).
    type: "num" or "text": how the page sorts it.
    cls: the cells' class, if not `type`.
    procedure: the procedure it shows, if any (for the procedure filter).
  """
  key: str
  label: str
  title: str
  value: _Getter
  cell: _Getter
  type: str = "num"
  cls: str | None = None
  procedure: str | None = None


def _rank_column() -> _Column:
  """The rank at the alpha shown."""
  return _Column("rank", "Rank",
                 "Rank by security at the alpha shown (1 = hardest)",
                 value=lambda row, at: at.get("rank"), cell=_rank_cell)


def _split_column(label: str, title: str) -> _Column:
  """The split's (or role's) name, headed `label`."""
  return _Column("split", label, title, value=lambda row, at: row["split"],
                 cell=_split_cell, type="text", cls="text split")


def _p_next_column() -> _Column:
  """P(harder than the next-ranked row)."""
  return _Column("p_next", "P(harder)",
                 "P(harder than next): the probability that this row is "
                 "harder than the next-ranked one",
                 value=lambda row, at: at.get("p_next"), cell=_p_next_cell)


def _task_columns(entry: dict[str, Any]) -> list[_Column]:
  """A task's columns: rank, split, share, each procedure, security, ..."""
  procedures = [
      _Column(p, p, f"Hardness under {p}: IQM over seeds [95% interval]",
              value=lambda row, at, p=p: _iqm((at.get("cells") or {}).get(p)),
              cell=functools.partial(_procedure_cell, p), procedure=p)
      for p in entry.get("procedures") or []]
  return [
      _rank_column(),
      _split_column("Split", "Split: the withheld part of the parameters"),
      _Column("share", "Withheld", "Share of the scalars withheld (count)",
              value=lambda row, at: row.get("share"), cell=_share_cell),
      *procedures,
      _Column("security", "Security",
              "Minimum hardness over procedures (the procedure in brackets)",
              value=lambda row, at: _iqm(at.get("security")),
              cell=_security_cell),
      _Column("pareto", "Pareto",
              "On the Pareto front of security against share withheld, at "
              "the ranking alpha",
              value=lambda row, at: 1 if row.get("pareto") else 0,
              cell=_pareto_cell, cls="mark"),
      _p_next_column()]


def _role_columns(entry: dict[str, Any]) -> list[_Column]:
  """The roles' columns: the pooled security, then each task's value."""
  tasks = [
      _Column(f"task:{task}", task,
              f"Security on {task} (its cap beside it)",
              value=lambda row, at, t=task: _iqm(
                  (at.get("per_task") or {}).get(t)),
              cell=functools.partial(_task_cell, task))
      for task in entry.get("tasks") or []]
  return [
      _rank_column(),
      _split_column("Role", "Role: the splits that play it in each task, by "
                            "their mask"),
      _Column("security", "Pooled security",
              "Mean over tasks of each task's security [95% interval]; every "
              "task weighs the same",
              value=lambda row, at: (at.get("security") or {}).get("mean"),
              cell=lambda row, at: _cell_html(_pooled(at.get("security")))),
      *tasks,
      _p_next_column()]


def _columns(entry: dict[str, Any]) -> list[_Column]:
  """The entry's columns, by its kind."""
  if entry.get("kind") == _ROLES:
    return _role_columns(entry)
  return _task_columns(entry)


# --- Tables. ----------------------------------------------------------


def _sort_value(column: _Column, row: dict[str, Any],
                at: dict[str, Any]) -> str | None:
  """The cell's `data-sort`: its value as text, None where missing."""
  value = column.value(row, at)
  if column.type == "text":
    return None if value is None else str(value)
  return repr(value) if _is_num(value) else None


def _rank_order(rows: list[dict[str, Any]],
                alpha: float) -> list[dict[str, Any]]:
  """`rows` by rank at `alpha`, unranked rows last, ties in board order."""
  def key(row):
    rank = _at_alpha(row, alpha).get("rank")
    return (0, rank) if _is_num(rank) else (1, 0)
  return sorted(rows, key=key)


def _head(columns: list[_Column]) -> str:
  """The header row; the rank column sorts (ascending) until a click."""
  cells = [
      _tag("th", {"scope": "col", "data-key": c.key,
                  "data-procedure": c.procedure, "data-type": c.type,
                  "class": "mark" if c.cls == "mark" else c.type,
                  "title": c.title,
                  "aria-sort": "ascending" if c.key == "rank" else None},
           _text(c.label),
           _tag("span", {"class": "arrow", "aria-hidden": "true"}))
      for c in columns]
  return _tag("thead", {}, _tag("tr", {}, *cells))


def _cell(column: _Column, row: dict[str, Any], at: dict[str, Any]) -> str:
  """A `<td>`: the column's content (a dash where missing) and sort value."""
  content = column.cell(row, at)
  classes = [column.cls or column.type] + (["missing"] if content is None
                                           else [])
  return _tag("td", {"class": " ".join(classes),
                     "data-procedure": column.procedure,
                     "data-sort": _sort_value(column, row, at)},
              DASH if content is None else content)


def _row(columns: list[_Column], row: dict[str, Any], alpha: float) -> str:
  """The `<tr>` of `row` at `alpha`."""
  at = _at_alpha(row, alpha)
  return _tag("tr", {"data-split": row["split"]},
              *(_cell(c, row, at) for c in columns))


def _body(entry: dict[str, Any], columns: list[_Column], alpha: float) -> str:
  """The table's rows at `alpha`, in rank order, with the line that says
  which alpha they show (`data-line`, for the page's alpha select)."""
  rows = "\n".join(_row(columns, row, alpha)
                   for row in _rank_order(entry.get("rows") or [], alpha))
  return _tag("tbody", {"data-alpha": board_lib.alpha_key(alpha),
                        "data-line": _alpha_line(entry, alpha)},
              f"\n{rows}\n")


def _table(entry: dict[str, Any], alphas: list[float]) -> str:
  """The table at the entry's ranking alpha, and a `<template>` holding its
  rows at each other alpha of the board."""
  columns = _columns(entry)
  ranking = entry["ranking_alpha"]
  ranking_key = board_lib.alpha_key(ranking)
  others = [a for a in alphas if board_lib.alpha_key(a) != ranking_key]
  templates = [_tag("template", {"data-alpha": board_lib.alpha_key(a)},
                    _body(entry, columns, a)) for a in others]
  return _tag("table", {"class": "leaderboard"}, _head(columns), "\n",
              _body(entry, columns, ranking), "\n", "\n".join(templates))


def _alpha_line(entry: dict[str, Any], alpha: float) -> str:
  """Which alpha a table shows, whether it ranks the table, and its cap."""
  ranking = entry["ranking_alpha"]
  text = f"Shown at {_alpha_label(alpha)}" + (
      " (ranks this table)" if abs(alpha - ranking) < 1e-9 else
      f" (not the ranking alpha, {_alpha_label(ranking)})")
  if entry.get("kind") == _ROLES:
    return text + "; each task's cap beside its value"
  cap = _cap_at(entry, alpha)
  return text + "; " + board_lib.cap_text(cap) + (
      ": a split as hard as training from scratch reads 1"
      if _is_num(cap) else "")


def _caps_line(entry: dict[str, Any]) -> str | None:
  """The entry's cap at each of its alphas; None for the roles."""
  if entry.get("kind") == _ROLES or not entry.get("caps"):
    return None
  caps = " \u00b7 ".join(
      f"{_alpha_label(a)}: {board_lib.cap_text(_cap_at(entry, a))}"
      for a in entry.get("alphas") or [])
  return _tag("p", {"class": "caps"}, _text(
      "Caps B/t0(\u03b1), the largest value a censored seed can show (a "
      "split as hard as training from scratch reads 1): " + caps))


# --- Sections. --------------------------------------------------------


def _entries(board: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
  """(entry, heading) for each section: the roles across tasks first (if
  any, headed "Across tasks: roles"), then the tasks (headed by task)."""
  tasks = [(entry, None) for entry in board.get("tasks") or []]
  if not board.get("cross_task"):
    return tasks
  cross = dict(board["cross_task"], id=_CROSS_TASK)
  return [(cross, "Across tasks: roles"), *tasks]


def _figure(figure: dict[str, Any]) -> str:
  """A figure: its image, a link to the full-size image, and its title."""
  title = str(figure.get("title") or "")
  image = _void("img", {"src": figure["src"], "alt": title,
                        "loading": "lazy"})
  return _tag("figure", {},
              _tag("a", {"class": "zoom", "href": figure["src"],
                         "title": "Open large"}, image),
              _tag("figcaption", {}, _text(title)))


def _section(entry: dict[str, Any], heading: str | None,
             alphas: list[float]) -> str:
  """An entry's section: heading, summary, notes, caps, table, figures."""
  if heading:
    title = _text(heading)
  else:
    variant = entry.get("variant")
    title = _text(entry.get("task") or entry["id"]) + (
        " " + _span("variant", variant) if variant else "")
  notes = [_tag("li", {}, _text(n)) for n in entry.get("notes") or []]
  figures = [_figure(f) for f in entry.get("figures") or []]
  ranking = entry["ranking_alpha"]
  parts = [
      _tag("h2", {}, title),
      _tag("p", {"class": "summary"}, _text(entry["summary"]))
      if entry.get("summary") else None,
      _tag("ul", {"class": "notes"}, *notes) if notes else None,
      _caps_line(entry),
      _tag("p", {"class": "alpha-line"}, _text(_alpha_line(entry, ranking))),
      _tag("div", {"class": "table-wrap"}, _table(entry, alphas)),
      _tag("div", {"class": "figures"}, *figures) if figures else None]
  return _tag("section", {"class": "task", "data-task": entry["id"]},
              "\n", "\n".join(filter(None, parts)), "\n")


def _header(board: dict[str, Any]) -> str:
  """The page's header: title, note, legend, the records left out."""
  left_out = [_tag("li", {}, _text(line))
              for line in board.get("left_out") or []]
  legend = _tag(
      "p", {"class": "legend"},
      _text("Cells: IQM hardness over seeds [95% interval]; \u201c>\u201d "
            "and c=k/n mark a lower bound (k of n seeds censored), \u201cat "
            "cap\u201d a value whose every seed was."),
      _tag("span", {"class": "js-only", "hidden": True},
           _text(" Click a header to sort; click again to reverse. Click a "
                 "figure to open it large.")))
  return _tag("header", {},
              _tag("h1", {}, _text(board.get("title") or "Leaderboard")),
              _tag("p", {"class": "note"}, _text(board["note"]))
              if board.get("note") else None,
              legend,
              _tag("ul", {"class": "left-out"}, *left_out)
              if left_out else None)


def _select(id_: str, label: str, options: list[tuple[str, str]]) -> str:
  """A labelled select of (value, text) options, the first selected."""
  return _tag("label", {}, _text(label), _tag(
      "select", {"id": id_, "autocomplete": "off"},
      *(_tag("option", {"value": value}, _text(text))
        for value, text in options)))


def _controls(entries: list[tuple[dict[str, Any], str | None]],
              alphas: list[float]) -> str:
  """The filters by task and procedure and the alpha select; hidden until
  the script, which works them, shows them."""
  tasks = [(e["id"], heading or f"{e.get('task')}" + (
      f" \u00b7 {e['variant']}" if e.get("variant") else ""))
           for e, heading in entries]
  procedures = list(dict.fromkeys(p for e, _ in entries
                                  for p in e.get("procedures") or []))
  return _tag(
      "div", {"class": "controls js-only", "hidden": True},
      _select("task-filter", "Task", [("all", "all tasks"), *tasks]),
      _select("procedure-filter", "Procedure",
              [("all", "all procedures"), *((p, p) for p in procedures)]),
      _select("alpha-select", "Alpha",
              [("headline", "each table's ranking \u03b1"),
               *((board_lib.alpha_key(a), _alpha_label(a)) for a in alphas)]))
