"""The leaderboard as one static web page.

`render(board)` turns the leaderboard data (built by `benchmark.leaderboard`)
into a self-contained HTML page: inline CSS and vanilla JavaScript, no
external resources, no server; it works when opened from `file://`. The data
is embedded as JSON in a `<script type="application/json" id="board-data">`
element and drawn by the page's script: one section per (task, adversary
variant) entry with its notes (which alpha ranks it and why, the fine-tuning
grid's oracle choice, records that cannot be published) and its caps, and
one for the roles across tasks when present, each with a sortable table
(click a header; a second click reverses), its figures, and filters by
task, by procedure and by alpha (by default each table at its own ranking
alpha). Every censored value keeps its `>` and `c=k/n`; values at the cap
say so.

The page is a pure function of `board`: the same data gives the same bytes
(keys sorted, no timestamps, no random ids), so it can be committed and
diffed.

    from benchmark import site
    site.write(board, "results/leaderboard/index.html")
"""

from __future__ import annotations

import html
import json
from typing import Any

from benchmark import storage


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
  """Returns the leaderboard page for `board`, byte-for-byte deterministic."""
  title = html.escape(str(board.get("title", "leaderboard")), quote=True)
  return "".join((_HEAD.replace("@TITLE@", title), embed_json(board), _TAIL))


def write(board: dict[str, Any], path: str) -> str:
  """Writes `render(board)` to `path` atomically and returns `path`."""
  storage.write_text_atomic(path, render(board))
  return path


_CSS = """
:root {
  color-scheme: light dark;
  --fg: #1d2330; --muted: #5c6778; --bg: #ffffff; --panel: #f6f7f9;
  --line: #dde1e7; --zebra: #f7f8fa; --hover: #eef3fb; --head: #eef0f4;
  --accent: #1f5fbf; --star: #d08a00;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e4e7ec; --muted: #9aa4b2; --bg: #15181d; --panel: #1c2027;
    --line: #313843; --zebra: #1a1e24; --hover: #232b38; --head: #232830;
    --accent: #7fb0ff; --star: #f0b429;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { background: var(--bg); color: var(--fg); }
body {
  margin: 0 auto; padding: 24px 28px 48px; max-width: 1600px;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
    "Helvetica Neue", Arial, sans-serif;
}
header h1 { margin: 0 0 4px; font-size: 24px; letter-spacing: -0.01em; }
header .note { margin: 0 0 6px; color: var(--muted); max-width: 80ch; }
header .legend { margin: 0; color: var(--muted); font-size: 12.5px; }
.controls {
  display: flex; flex-wrap: wrap; gap: 10px 22px; align-items: center;
  margin: 18px 0 8px; padding: 10px 14px; background: var(--panel);
  border: 1px solid var(--line); border-radius: 8px;
}
.controls label { display: flex; gap: 8px; align-items: center;
  color: var(--muted); }
.controls select {
  font: inherit; color: var(--fg); background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px; padding: 3px 6px;
}
section.task { margin-top: 30px; }
section.task h2 { margin: 0 0 2px; font-size: 18px; }
section.task h2 .variant {
  margin-left: 8px; font-weight: 500; font-size: 14px; color: var(--muted);
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
section.task .summary { margin: 0 0 6px; color: var(--muted); }
section.task ul.notes { margin: 0 0 6px; padding-left: 20px;
  color: var(--muted); max-width: 110ch; }
section.task .caps, section.task .alpha-line { margin: 0 0 8px;
  color: var(--muted); font-size: 13px; }
section.task .alpha-line { color: var(--fg); }
header ul.left-out { margin: 4px 0 0; padding-left: 20px;
  color: var(--muted); font-size: 12.5px; }
.table-wrap {
  overflow: auto; max-height: 75vh; border: 1px solid var(--line);
  border-radius: 8px;
}
table.leaderboard {
  border-collapse: separate; border-spacing: 0; width: 100%;
  font-variant-numeric: tabular-nums;
}
table.leaderboard th, table.leaderboard td {
  padding: 5px 9px; white-space: nowrap; border-bottom: 1px solid var(--line);
  vertical-align: baseline;
}
table.leaderboard thead th {
  position: sticky; top: 0; z-index: 1; background: var(--head);
  font-weight: 600; text-align: right; vertical-align: bottom;
  white-space: normal;
}
table.leaderboard thead th.text { text-align: left; }
table.leaderboard thead th.mark { text-align: center; }
table.leaderboard th button {
  all: unset; cursor: pointer; display: inline-flex; gap: 4px;
  align-items: baseline;
}
table.leaderboard th button:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 2px; border-radius: 3px;
}
table.leaderboard th .arrow {
  display: inline-block; width: 0.8em; font-size: 10px; color: var(--accent);
}
table.leaderboard th[aria-sort="ascending"] .arrow::after { content: "\\25B2"; }
table.leaderboard th[aria-sort="descending"] .arrow::after { content: "\\25BC"; }
table.leaderboard tbody tr:nth-child(even) td { background: var(--zebra); }
table.leaderboard tbody tr:hover td { background: var(--hover); }
table.leaderboard tbody tr:last-child td { border-bottom: none; }
table.leaderboard td.num { text-align: right; }
table.leaderboard td.text { text-align: left; }
table.leaderboard td.mark { text-align: center; }
table.leaderboard td.split {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px;
}
table.leaderboard td .ci, table.leaderboard td .count,
table.leaderboard td .cens, table.leaderboard td .proc,
table.leaderboard td .won, table.leaderboard td .cap { color: var(--muted); }
table.leaderboard td .cens, table.leaderboard td .won,
table.leaderboard td .cap { font-size: 12px; }
table.leaderboard td .at-cap { font-size: 12px; font-weight: 600; }
table.leaderboard td.missing { color: var(--muted); }
table.leaderboard td a { color: inherit; text-decoration: none;
  border-bottom: 1px dotted var(--accent); }
table.leaderboard td a:hover { color: var(--accent); }
.pareto { color: var(--star); font-size: 15px; cursor: help; }
.figures {
  display: grid; gap: 16px; margin: 14px 0 0;
  grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
}
figure { margin: 0; padding: 8px; border: 1px solid var(--line);
  border-radius: 8px; background: var(--panel); }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto;
  background: #fff; }
figcaption { margin-top: 6px; color: var(--muted); font-size: 13px;
  text-align: center; }
"""

_JS = r"""
(function () {
  "use strict";
  var board = JSON.parse(document.getElementById("board-data").textContent);
  var DASH = "\u2014";
  var HEADLINE = "headline";
  var state = {task: "all", procedure: "all", alpha: HEADLINE};
  var views = [];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(name, value === true ? "" : String(value));
    });
    [].concat(children === undefined ? [] : children).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fixed(v, digits) { return isNum(v) ? v.toFixed(digits) : DASH; }
  function grouped(n) {
    return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function alphaLabel(a) { return "\u03b1 = " + String(a); }
  function capText(cap) {
    return isNum(cap) ? "cap " + cap.toFixed(3) : "cap undefined: t0 = 0";
  }

  // The alpha a view shows: the selected one, or its own ranking alpha.
  function viewAlpha(view) {
    return state.alpha === HEADLINE ? view.entry.ranking_alpha : state.alpha;
  }

  // The key of `table` (Python's f"{alpha:g}") nearest to `alpha`.
  function keyAt(table, alpha) {
    var best = null, bestDiff = Infinity;
    Object.keys(table || {}).forEach(function (key) {
      var diff = Math.abs(parseFloat(key) - alpha);
      if (diff < bestDiff) { best = key; bestDiff = diff; }
    });
    return best !== null && bestDiff <= 1e-5 * Math.abs(alpha) + 1e-12
        ? best : null;
  }

  function atAlpha(row, alpha) {
    var key = keyAt(row.by_alpha, alpha);
    return (key !== null && row.by_alpha[key]) || {};
  }

  function capAt(entry, alpha) {
    var key = keyAt(entry.caps, alpha);
    return key === null ? undefined : entry.caps[key];
  }

  // A hardness summary as spans: value (">" where censored: a lower
  // bound), interval, censoring, "at cap", the grid's most frequent winner.
  function summaryNodes(s) {
    if (!s || !isNum(s.iqm)) return null;
    var censored = isNum(s.censored) && s.censored > 0;
    var attributes = {class: "v"};
    if (isNum(s.median)) {
      attributes.title = "median " + s.median.toFixed(3) +
          (isNum(s.median_lo) ? " [" + fixed(s.median_lo, 3) + ", " +
                                fixed(s.median_hi, 3) + "]" : "") +
          "; IQM " + s.iqm.toFixed(3);
    }
    var nodes = [el("span", attributes, (censored ? ">" : "") +
                    s.iqm.toFixed(3))];
    if (isNum(s.lo) || isNum(s.hi)) {
      nodes.push(el("span", {class: "ci"},
                    " [" + fixed(s.lo, 2) + ", " + fixed(s.hi, 2) + "]"));
    }
    if (censored) {
      nodes.push(el("span", {class: "cens",
                             title: s.censored + " of " + s.seeds +
                                    " seeds never recovered: a lower bound"},
                    " c=" + s.censored + "/" + s.seeds));
    }
    if (s.at_cap) {
      nodes.push(el("span", {class: "at-cap",
                             title: "every seed censored: the value is the " +
                                    "cap B/t0 (" + capText(s.cap) + ")"},
                    " at cap"));
    }
    if (s.won && s.won.schedule) {
      nodes.push(el("span", {class: "won",
                             title: "schedule of the fine-tuning grid that " +
                                    "first reached alpha in the most seeds " +
                                    "(of those that reached it after " +
                                    "training)"},
                    " " + s.won.schedule + " " + s.won.count + "/" +
                    s.won.reached));
    }
    return nodes;
  }

  // A pooled security across tasks (mean over tasks).
  function pooledNodes(s) {
    if (!s || !isNum(s.mean)) return null;
    var censored = isNum(s.censored) && s.censored > 0;
    var nodes = [el("span", {class: "v"}, (censored ? ">" : "") +
                    s.mean.toFixed(3)),
                 el("span", {class: "ci"},
                    " [" + fixed(s.lo, 2) + ", " + fixed(s.hi, 2) + "]"),
                 el("span", {class: "count"},
                    " " + s.tasks + "/" + s.of + " tasks")];
    if (censored) {
      nodes.push(el("span", {class: "cens",
                             title: s.censored + " task(s) censored: a " +
                                    "lower bound"},
                    " c=" + s.censored + " task" +
                    (s.censored === 1 ? "" : "s")));
    }
    return nodes;
  }

  function iqmOf(s) { return s && isNum(s.iqm) ? s.iqm : null; }

  function rankColumn() {
    return {key: "rank", label: "Rank", type: "num",
            title: "Rank by security at the alpha shown (1 = hardest)",
            value: function (r, a) { return a.rank; },
            cell: function (r, a) {
              return isNum(a.rank) ? String(a.rank) : null;
            }};
  }

  function pNextColumn() {
    return {key: "p_next", label: "P(harder than next)", type: "num",
            title: "Probability that this row is harder than the " +
                   "next-ranked one",
            value: function (r, a) { return a.p_next; },
            cell: function (r, a) {
              return isNum(a.p_next) ? fixed(a.p_next, 2) : null;
            }};
  }

  function taskColumns(entry) {
    var cols = [
      rankColumn(),
      {key: "split", label: "Split", type: "text", cls: "text split",
       title: "Split: the withheld part of the parameters",
       value: function (r) { return r.split; },
       cell: function (r) { return String(r.split); }},
      {key: "share", label: "Withheld", type: "num",
       title: "Share of the scalars withheld (count)",
       value: function (r) { return r.share; },
       cell: function (r) {
         if (!isNum(r.share)) return null;
         return [(r.share * 100).toFixed(2) + "%",
                 el("span", {class: "count"},
                    isNum(r.withheld) ? " (" + grouped(r.withheld) + ")" : "")];
       }}
    ];
    (entry.procedures || []).forEach(function (p) {
      cols.push({key: p, label: p, type: "num", procedure: p,
                 title: "Hardness under " + p + ": IQM over seeds [95% interval]",
                 value: function (r, a) { return iqmOf((a.cells || {})[p]); },
                 cell: function (r, a) {
                   var nodes = summaryNodes((a.cells || {})[p]);
                   var href = (r.records || {})[p];
                   if (!href) return nodes;
                   return el("a", {href: href, title: "record JSON"},
                             nodes || DASH);
                 }});
    });
    cols.push(
      {key: "security", label: "Security", type: "num",
       title: "Minimum hardness over procedures (the procedure in brackets)",
       value: function (r, a) { return iqmOf(a.security); },
       cell: function (r, a) {
         var nodes = summaryNodes(a.security);
         if (!nodes) return null;
         if (a.security.procedure) {
           nodes.push(el("span", {class: "proc"},
                         " (" + a.security.procedure + ")"));
         }
         return nodes;
       }},
      {key: "pareto", label: "Pareto", type: "num", cls: "mark",
       title: "On the Pareto front of security against share withheld, " +
              "at the ranking alpha",
       value: function (r) { return r.pareto ? 1 : 0; },
       cell: function (r) {
         if (!r.pareto) return "";
         return el("span", {class: "pareto", role: "img",
                            "aria-label": "Pareto-optimal",
                            title: "Pareto-optimal: no other split is at " +
                                   "least as hard while withholding less"},
                   "\u2605");
       }},
      pNextColumn()
    );
    return cols;
  }

  // The roles across tasks: the pooled security, then each task's value
  // with its cap ("not run" where the task has no split in that role).
  function roleColumns(entry) {
    var cols = [
      rankColumn(),
      {key: "split", label: "Role", type: "text", cls: "text split",
       title: "Role: the splits that play it in each task, by their mask",
       value: function (r) { return r.split; },
       cell: function (r) { return String(r.split); }},
      {key: "security", label: "Pooled security", type: "num",
       title: "Mean over tasks of each task's security [95% interval]; " +
              "every task weighs the same",
       value: function (r, a) {
         return a.security && isNum(a.security.mean) ? a.security.mean : null;
       },
       cell: function (r, a) { return pooledNodes(a.security); }}
    ];
    (entry.tasks || []).forEach(function (task) {
      cols.push({key: "task:" + task, label: task, type: "num",
                 title: "Security on " + task + " (its cap beside it)",
                 value: function (r, a) {
                   return iqmOf((a.per_task || {})[task]);
                 },
                 cell: function (r, a) {
                   var c = (a.per_task || {})[task];
                   if (!c) return el("span", {class: "missing"}, "not run");
                   var nodes = summaryNodes(c) || [DASH];
                   if (c.procedure) {
                     nodes.push(el("span", {class: "proc"},
                                   " (" + c.split + ", " + c.procedure + ")"));
                   }
                   nodes.push(el("span", {class: "cap"},
                                 " " + capText(c.cap)));
                   return nodes;
                 }});
    });
    cols.push(pNextColumn());
    return cols;
  }

  function isMissing(v, type) {
    return type === "text" ? (v === null || v === undefined) : !isNum(v);
  }

  function byRank(alpha) {
    return function (x, y) {
      var rx = atAlpha(x.row, alpha).rank, ry = atAlpha(y.row, alpha).rank;
      var mx = !isNum(rx), my = !isNum(ry);
      if (mx !== my) return mx ? 1 : -1;
      if (!mx && rx !== ry) return rx - ry;
      return x.index - y.index;
    };
  }

  function comparator(col, dir, alpha) {
    var tie = byRank(alpha);
    return function (x, y) {
      var vx = col.value(x.row, atAlpha(x.row, alpha));
      var vy = col.value(y.row, atAlpha(y.row, alpha));
      var mx = isMissing(vx, col.type), my = isMissing(vy, col.type);
      if (mx !== my) return mx ? 1 : -1;  // missing last, either direction
      var c = 0;
      if (!mx) {
        if (col.type === "text") {
          vx = String(vx); vy = String(vy);
          c = vx < vy ? -1 : (vx > vy ? 1 : 0);
        } else {
          c = vx - vy;
        }
        if (dir === "descending") c = -c;
      }
      return c !== 0 ? c : tie(x, y);
    };
  }

  // Which alpha the table shows, whether it ranks the task, and its cap.
  function alphaLine(view, alpha) {
    var entry = view.entry;
    var ranks = Math.abs(alpha - entry.ranking_alpha) < 1e-9;
    var text = "Shown at " + alphaLabel(alpha) +
        (ranks ? " (ranks this table)" : " (not the ranking alpha, " +
                 alphaLabel(entry.ranking_alpha) + ")");
    if (entry.kind !== "roles") {
      var cap = capAt(entry, alpha);
      text += "; " + capText(cap) +
              (isNum(cap) ? ": a split as hard as training from scratch " +
                            "reads 1" : "");
    } else {
      text += "; each task's cap beside its value";
    }
    return text;
  }

  function renderBody(view) {
    var alpha = viewAlpha(view);
    var col = view.columns.filter(function (c) {
      return c.key === view.sort.key;
    })[0] || view.columns[0];
    var items = view.entry.rows.map(function (row, index) {
      return {row: row, index: index};
    });
    items.sort(comparator(col, view.sort.dir, alpha));
    var tbody = el("tbody");
    items.forEach(function (item) {
      var row = item.row, a = atAlpha(row, alpha);
      var tr = el("tr", {"data-split": row.split});
      view.columns.forEach(function (c) {
        var content = c.cell(row, a);
        var missing = content === null || content === undefined;
        var cls = [c.cls || c.type, missing ? "missing" : null]
            .filter(Boolean).join(" ");
        tr.appendChild(el("td", {class: cls, "data-procedure": c.procedure},
                          missing ? DASH : content));
      });
      tbody.appendChild(tr);
    });
    view.table.replaceChild(tbody, view.tbody);
    view.tbody = tbody;
    view.alphaLine.textContent = alphaLine(view, alpha);
    view.headers.forEach(function (th) {
      if (th.getAttribute("data-key") === col.key) {
        th.setAttribute("aria-sort", view.sort.dir);
      } else {
        th.removeAttribute("aria-sort");
      }
    });
    applyProcedureFilter(view);
  }

  function applyProcedureFilter(view) {
    var cells = view.table.querySelectorAll("[data-procedure]");
    Array.prototype.forEach.call(cells, function (cell) {
      cell.hidden = state.procedure !== "all" &&
                    cell.getAttribute("data-procedure") !== state.procedure;
    });
  }

  function sortBy(view, col) {
    if (view.sort.key === col.key) {
      view.sort.dir = view.sort.dir === "ascending" ? "descending" : "ascending";
    } else {
      view.sort = {key: col.key,
                   dir: col.type === "text" ? "ascending" : "descending"};
    }
    renderBody(view);
  }

  function capsLine(entry) {
    if (entry.kind === "roles" || !entry.caps) return null;
    var parts = (entry.alphas || []).map(function (a) {
      return alphaLabel(a) + ": " + capText(capAt(entry, a));
    });
    return el("p", {class: "caps"},
              "Caps B/t0(\u03b1), the largest value a censored seed can " +
              "show (a split as hard as training from scratch reads 1): " +
              parts.join(" \u00b7 "));
  }

  function buildSection(entry, heading) {
    var view = {entry: entry, headers: [],
                columns: entry.kind === "roles" ? roleColumns(entry)
                                                : taskColumns(entry),
                sort: {key: "rank", dir: "ascending"}};
    var headRow = el("tr");
    view.columns.forEach(function (col) {
      var th = el("th", {scope: "col", "data-key": col.key,
                         "data-procedure": col.procedure,
                         class: col.cls === "mark" ? "mark" : col.type,
                         title: col.title},
                  el("button", {type: "button"},
                     [col.label, el("span", {class: "arrow",
                                             "aria-hidden": "true"})]));
      th.addEventListener("click", function () { sortBy(view, col); });
      view.headers.push(th);
      headRow.appendChild(th);
    });
    view.tbody = el("tbody");
    view.table = el("table", {class: "leaderboard"},
                    [el("thead", {}, headRow), view.tbody]);
    view.alphaLine = el("p", {class: "alpha-line"});
    var title = heading ? [heading] :
        [String(entry.task || entry.id),
         entry.variant ? el("span", {class: "variant"}, String(entry.variant))
                       : null];
    var figures = (entry.figures || []).map(function (f) {
      return el("figure", {}, [el("img", {src: f.src, alt: f.title || "",
                                          loading: "lazy"}),
                               el("figcaption", {}, String(f.title || ""))]);
    });
    var notes = (entry.notes || []).map(function (n) {
      return el("li", {}, String(n));
    });
    view.section = el("section", {class: "task", "data-task": entry.id}, [
      el("h2", {}, title),
      entry.summary ? el("p", {class: "summary"}, String(entry.summary)) : null,
      notes.length ? el("ul", {class: "notes"}, notes) : null,
      capsLine(entry),
      view.alphaLine,
      el("div", {class: "table-wrap"}, view.table),
      figures.length ? el("div", {class: "figures"}, figures) : null
    ]);
    views.push(view);
    renderBody(view);
    return view.section;
  }

  function select(id, label, options, value, onChange) {
    var node = el("select", {id: id}, options.map(function (o) {
      return el("option", {value: o[0]}, o[1]);
    }));
    node.value = value;
    node.addEventListener("change", function () { onChange(node.value); });
    return el("label", {}, [label, node]);
  }

  function main() {
    var root = document.getElementById("app");
    var entries = (board.tasks || []).map(function (e) {
      return {entry: e, heading: null};
    });
    if (board.cross_task) {
      var cross = Object.assign({}, board.cross_task, {id: "cross-task"});
      entries.unshift({entry: cross, heading: "Across tasks: roles"});
    }
    var procedures = [];
    entries.forEach(function (x) {
      (x.entry.procedures || []).forEach(function (p) {
        if (procedures.indexOf(p) < 0) procedures.push(p);
      });
    });
    var alphas = board.alphas || [];
    var leftOut = (board.left_out || []).map(function (line) {
      return el("li", {}, String(line));
    });

    root.appendChild(el("header", {}, [
      el("h1", {}, String(board.title || "Leaderboard")),
      board.note ? el("p", {class: "note"}, String(board.note)) : null,
      el("p", {class: "legend"},
         "Cells: IQM hardness over seeds [95% interval]; \u201c>\u201d and " +
         "c=k/n mark a lower bound (k of n seeds censored), \u201cat " +
         "cap\u201d a value whose every seed was. Click a header to sort; " +
         "click again to reverse."),
      leftOut.length ? el("ul", {class: "left-out"}, leftOut) : null
    ]));

    root.appendChild(el("div", {class: "controls"}, [
      select("task-filter", "Task",
             [["all", "all tasks"]].concat(entries.map(function (x) {
               var e = x.entry;
               return [e.id, x.heading ||
                       (e.task + (e.variant ? " \u00b7 " + e.variant : ""))];
             })),
             "all",
             function (value) {
               state.task = value;
               views.forEach(function (v) {
                 v.section.hidden = value !== "all" && v.entry.id !== value;
               });
             }),
      select("procedure-filter", "Procedure",
             [["all", "all procedures"]].concat(procedures.map(function (p) {
               return [p, p];
             })),
             "all",
             function (value) {
               state.procedure = value;
               views.forEach(applyProcedureFilter);
             }),
      select("alpha-select", "Alpha",
             [[HEADLINE, "each table's ranking \u03b1"]].concat(
                 alphas.map(function (a) {
                   return [String(a), alphaLabel(a)];
                 })),
             HEADLINE,
             function (value) {
               state.alpha = value === HEADLINE ? HEADLINE : parseFloat(value);
               views.forEach(function (v) {
                 v.sort = {key: "rank", dir: "ascending"};
                 renderBody(v);
               });
             })
    ]));

    entries.forEach(function (x) {
      root.appendChild(buildSection(x.entry, x.heading));
    });
  }

  main();
})();
"""

_HEAD = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, "
         "initial-scale=1\">\n<title>@TITLE@</title>\n<style>" + _CSS +
         "</style>\n</head>\n<body>\n<main id=\"app\"></main>\n"
         "<noscript>This page draws the leaderboard with JavaScript; the data "
         "is in the board-data element of its source.</noscript>\n"
         "<script type=\"application/json\" id=\"board-data\">")
_TAIL = "</script>\n<script>" + _JS + "</script>\n</body>\n</html>\n"
