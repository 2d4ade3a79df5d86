"""Type and location vs count: what explains a split's security, from records.

The paper's second finding (PROTOCOL.md) is that completion hardness depends
less on how many parameters are withheld than on their type and location.
This module tests it on one task's records, at one recovery level alpha:

* security: the minimum over procedures of the IQM hardness, as in the
  leaderboard (`leaderboard.security`);
* share: the fraction of scalars withheld (`split.share`);
* depth: the unweighted mean of the normalised forward positions (0: first
  layer, 1: last) of the layers holding withheld variables. Unweighted, so
  that depth says *where* and share says *how much*: weighting by scalars
  would tie depth to the largest layer and so to share. The forward order is
  the order of the whole-model split's `split.paths` (creation order); a
  layer is a path without its collection and last component;
* dominant type: records hold paths, not shapes. A kernel holds fan-in times
  as many scalars as its layer's bias or any per-channel norm vector, so a
  split that withholds a kernel is kernel-dominated; otherwise the dominant
  type is the one with the most withheld leaves (ties in `TYPE_ORDER`).
  Types are the splitter's (`splitter.leaf_types`).

Statistics (scipy): Spearman's rho of security with share and with depth,
and the correlation ratio (eta squared) of security on the dominant type.
Censored securities are lower bounds and enter as they are.

Only records of protocol v2 are read (a folder's v1 records are left out
with one notice, never mixed in), at the records' headline alpha unless
`--alpha` names another.

    python -m benchmark.analysis --task=fashion_mnist/cnn --workdir=results
"""

from __future__ import annotations

import collections
import math
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from scipy import stats

from benchmark.publishing import board as board_lib
from benchmark.publishing import leaderboard
from benchmark.science import splitter
from benchmark.sweeps import records as records_lib
from benchmark.sweeps import storage
from contract.spec import InputError

TYPE_ORDER = ("kernels", "biases", "norm_scales", "norm_offsets",
              "running_stats", "other")
# Families whose splits withhold a random share of every leaf's scalars:
# their withheld layers are (nearly) all layers, so depth says nothing.
PARTIAL_FAMILIES = ("random_scalars",)
EXACT_MAX_N = 8  # Up to 8! = 40,320 orderings: exact permutation p-values.


class Model(NamedTuple):
  """What the whole-model record tells about the model."""

  paths: tuple[str, ...]  # Every variable, in creation (forward) order.
  position: dict[str, float]  # Layer -> normalised forward position.
  types: dict[str, str]  # Path -> parameter type.
  families: dict[str, tuple[str, splitter.Scheme]]  # Built-in name -> family.


class SplitRow(NamedTuple):
  """One split's features and security at one alpha."""

  name: str
  family: str  # A built-in family, or `file`.
  share: float
  layers: tuple[str, ...]  # Withheld layers, in forward order.
  depth: float
  types: tuple[str, ...]  # Withheld types, in `TYPE_ORDER`.
  dominant: str
  security: float  # NaN: undefined (t0 = 0) under every procedure.
  procedure: str
  censored: bool  # The security is a lower bound.
  whole_model: bool
  single_layer: bool  # Withholds exactly every leaf of one layer.
  single_type: str | None  # The type, if it withholds exactly one type.


class Statistic(NamedTuple):
  value: float  # NaN: undefined (fewer than 3 splits, or constant input).
  p: float
  n: int
  method: str  # How p was computed: `exact`, `t`, `Kruskal-Wallis`.


def layer_of(path: str) -> str:
  """`params/conv1/kernel` -> `conv1` (the splitter's notion of a layer)."""
  return splitter.Leaf(path, ()).layer


def whole_model_paths(records: Sequence[dict[str, Any]]) -> tuple[str, ...]:
  """Every variable path in forward order, from a split withholding all.

  Raises:
    InputError: no record withholds the whole model.
  """
  whole = sorted((r["split"]["name"], tuple(r["split"]["paths"]))
                 for r in records
                 if r["split"]["withheld"] == r["split"]["total"])
  if not whole:
    raise InputError(
        "no record withholds the whole model (a split with share 1.0, e.g. "
        "the `all` family), whose paths give the forward layer order; run "
        "the sweep with `all` among --splits")
  return whole[0][1]


def _variables_from_paths(paths: Sequence[str]) -> dict[str, Any]:
  """Nested dicts of scalars in `paths` order: enough for the splitter."""
  tree: dict[str, Any] = {}
  for path in paths:
    *parents, name = path.split("/")
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[name] = np.zeros(())
  return tree


def model_structure(records: Sequence[dict[str, Any]]) -> Model:
  """Layer positions, leaf types and the built-in schemes of the model."""
  paths = whole_model_paths(records)
  order = list(dict.fromkeys(layer_of(p) for p in paths))
  scale = max(len(order) - 1, 1)
  variables = _variables_from_paths(paths)
  families = {}
  for family in splitter.FAMILIES:
    for scheme in splitter.family_schemes(variables, family):
      families.setdefault(scheme.name, (family, scheme))
  return Model(
      paths=paths,
      position={layer: i / scale for i, layer in enumerate(order)},
      types=splitter.leaf_types(splitter.leaves(variables)),
      families=families)


def family_of(split: Mapping[str, Any], model: Model) -> str:
  """The built-in family that made `split`, else `file`."""
  family, scheme = model.families.get(split["name"], ("file", None))
  if scheme is None or (tuple(split["withhold"]), tuple(split["keep"])) != (
      scheme.withhold, scheme.keep):
    return "file"
  return family


def depth(layers: Sequence[str], position: Mapping[str, float]) -> float:
  """Unweighted mean forward position of the withheld layers."""
  return float(np.mean([position[layer] for layer in layers]))


def dominant_type(leaf_types: Sequence[str]) -> str:
  """Kernels if any, else the most frequent type (ties in `TYPE_ORDER`).

  Args:
    leaf_types: the type of each withheld leaf.
  """
  counts = collections.Counter(leaf_types)
  if "kernels" in counts:
    return "kernels"
  return min(counts, key=lambda t: (-counts[t], TYPE_ORDER.index(t)))


def split_security(by_procedure: Mapping[str, dict[str, Any]],
                   alpha: float) -> tuple[float, str, bool]:
  """`(security, procedure attaining it, censored)` of one split."""
  cells = {name: leaderboard.summary_at(record, alpha)
           for name, record in by_procedure.items()}
  value, procedure = leaderboard.security(cells)
  return value, procedure, bool(procedure and cells[procedure]["censored"])


def split_row(by_procedure: Mapping[str, dict[str, Any]], model: Model,
              alpha: float) -> SplitRow:
  """Features and security of one split (its records, one per procedure).

  Raises:
    InputError: a withheld path that the whole-model record does not list.
  """
  split = next(iter(by_procedure.values()))["split"]
  unknown = sorted(set(split["paths"]) - set(model.paths))
  if unknown:
    raise InputError(f"split {split['name']!r} withholds {unknown[0]}, which "
                     "the whole-model record does not list")
  chosen = set(split["paths"])
  withheld = [p for p in model.paths if p in chosen]
  layers = tuple(dict.fromkeys(layer_of(p) for p in withheld))
  leaf_types = [model.types[p] for p in withheld]
  family = family_of(split, model)
  full = family not in PARTIAL_FAMILIES
  single_layer = full and len(layers) == 1 and len(withheld) == sum(
      layer_of(p) == layers[0] for p in model.paths)
  single_type = None
  if full and len(set(leaf_types)) == 1 and len(withheld) == sum(
      t == leaf_types[0] for t in model.types.values()):
    single_type = leaf_types[0]
  value, procedure, censored = split_security(by_procedure, alpha)
  return SplitRow(
      name=split["name"], family=family, share=split["share"], layers=layers,
      depth=depth(layers, model.position),
      types=tuple(t for t in TYPE_ORDER if t in leaf_types),
      dominant=dominant_type(leaf_types), security=value,
      procedure=procedure, censored=censored,
      whole_model=split["withheld"] == split["total"],
      single_layer=single_layer, single_type=single_type)


def spearman(x: Sequence[float], y: Sequence[float]) -> Statistic:
  """Spearman's rho with a two-sided p-value (exact for n <= EXACT_MAX_N)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  n = len(x)
  if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return Statistic(float("nan"), float("nan"), n, "")
  result = stats.spearmanr(x, y)
  if n > EXACT_MAX_N:
    return Statistic(float(result.statistic), float(result.pvalue), n, "t")
  y_ranks = stats.rankdata(y)
  y_ranks = y_ranks - y_ranks.mean()

  def rho(a, axis=-1):
    ranks = stats.rankdata(a, axis=axis)
    ranks = ranks - ranks.mean(axis=axis, keepdims=True)
    return (ranks * y_ranks).sum(axis) / np.sqrt(
        (ranks**2).sum(axis) * (y_ranks**2).sum())

  exact = stats.permutation_test((x,), rho, permutation_type="pairings",
                                 n_resamples=math.factorial(n),
                                 vectorized=True)
  return Statistic(float(result.statistic), float(exact.pvalue), n, "exact")


def _groups(values: np.ndarray, labels: Sequence[str]) -> list[np.ndarray]:
  """`values` split by label, labels in sorted order."""
  return [values[[label == k for label in labels]] for k in sorted(set(labels))]


def correlation_ratio(values: Sequence[float], labels: Sequence[str]) -> float:
  """Eta squared: the share of the variance of `values` between the groups
  given by `labels`. NaN with fewer than two groups or constant values."""
  values = np.asarray(values, np.float64)
  total = ((values - values.mean())**2).sum()
  groups = _groups(values, labels)
  if len(groups) < 2 or total == 0:
    return float("nan")
  between = sum(len(g) * (g.mean() - values.mean())**2 for g in groups)
  return float(between / total)


def type_statistic(values: Sequence[float],
                   labels: Sequence[str]) -> tuple[float, float, Statistic]:
  """`(eta squared, eta squared of the ranks, Kruskal-Wallis test)`."""
  eta = correlation_ratio(values, labels)
  if eta != eta:
    return eta, eta, Statistic(float("nan"), float("nan"), len(values), "")
  test = stats.kruskal(*_groups(np.asarray(values, np.float64), labels))
  return (eta, correlation_ratio(stats.rankdata(values), labels),
          Statistic(float(test.statistic), float(test.pvalue), len(values),
                    "Kruskal-Wallis"))


def select_group(records: Sequence[dict[str, Any]],
                 variant: str | None = None) -> tuple[list[dict], str]:
  """The records of one (task, variant, originals), and a note on the choice.

  Without `variant`, the group with the most records is taken.

  Raises:
    InputError: no records, or none of `variant`.
  """
  groups = board_lib.sweep_groups(records)
  if not groups:
    raise InputError("no records to analyse")
  keys = sorted(groups)
  if variant is not None:
    keys = [k for k in keys if k[1] == variant]
    if not keys:
      raise InputError(f"no record of variant {variant!r}; variants: " +
                       ", ".join(sorted({k[1] for k in groups})))
  chosen = min(keys, key=lambda k: (-len(groups[k]), k))
  note = ""
  if len(keys) > 1:
    note = (f"{len(keys)} groups of records (variants: " +
            ", ".join(f"`{k[1]}` ({len(groups[k])})" for k in keys) +
            f"); analysing `{chosen[1]}`, the one with the most records "
            "(`--variant` chooses).")
  return groups[chosen], note


def split_rows(group: Sequence[dict[str, Any]], alpha: float) -> list[SplitRow]:
  """One row per split, hardest first (undefined security last).

  Raises:
    InputError: `alpha` is not in the records' grid, or no whole-model record.
  """
  grid = sorted({a for r in group for a in r["alphas"]})
  if not any(math.isclose(alpha, a) for a in grid):
    raise InputError(f"alpha {alpha:g} is not in the records' grid "
                     f"({', '.join(f'{a:g}' for a in grid)})")
  model = model_structure(group)
  splits = collections.defaultdict(dict)
  for record in group:
    splits[record["split"]["name"]][record["procedure"]["name"]] = record
  rows = [split_row(splits[name], model, alpha) for name in sorted(splits)]
  return sorted(rows, key=lambda r: (r.security != r.security,
                                     -r.security if r.security == r.security
                                     else 0.0, r.name))


def main_type(rows: Sequence[SplitRow]) -> str | None:
  """The dominant type of the most splits (ties in `TYPE_ORDER`)."""
  counts = collections.Counter(r.dominant for r in rows)
  return min(counts, key=lambda t: (-counts[t], TYPE_ORDER.index(t)),
             default=None)


def correlations(rows: Sequence[SplitRow]) -> list[tuple[str, str, Statistic,
                                                         int]]:
  """`(feature, splits, Spearman statistic, censored count)` rows.

  Share and depth over every split but the whole model (depth also without
  the random scalar shares, which touch every layer), then within the most
  common dominant type (type held fixed), then within single layers (the
  kind of split held fixed).
  """
  known = [r for r in rows if r.security == r.security and not r.whole_model]
  located = [r for r in known if r.family not in PARTIAL_FAMILIES]
  kind = main_type(known)
  subsets = (
      ("share", "every split but the whole model", known),
      ("depth", "every split but the whole model and random scalar shares",
       located),
      ("share", f"dominant type {kind}",
       [r for r in known if r.dominant == kind]),
      ("depth", f"dominant type {kind}, without random scalar shares",
       [r for r in located if r.dominant == kind]),
      ("share", "single layers", [r for r in known if r.single_layer]),
      ("depth", "single layers", [r for r in known if r.single_layer]))
  return [(feature, subset,
           spearman([getattr(r, feature) for r in chosen],
                    [r.security for r in chosen]),
           sum(r.censored for r in chosen))
          for feature, subset, chosen in subsets]


def _number(value: float, spec: str) -> str:
  return "n/a" if value != value else format(value, spec)


def _security(row: SplitRow) -> str:
  if row.security != row.security:
    return "n/a"
  return (">" if row.censored else "") + f"{row.security:.3f}"


def build(group: Sequence[dict[str, Any]], alpha: float, note: str = "") -> str:
  """The analysis markdown for one group of records (`select_group`),
  deterministically: the same records in any order give the same text.

  Raises:
    InputError: a record of protocol v1, or see `split_rows`.
  """
  old = [r for r in group if not records_lib.is_current(r)]
  if old:
    raise InputError(records_lib.protocol_notice(
        old[0], board_lib.record_link(old[0], "")))
  group = sorted(group, key=lambda r: r["content_sha256"])
  rows = split_rows(group, alpha)
  first = group[0]
  procedures = sorted({r["procedure"]["name"] for r in group})
  known = [r for r in rows if r.security == r.security and not r.whole_model]
  eta, eta_ranks, kruskal = type_statistic(
      [r.security for r in known], [r.dominant for r in known])
  out = [f"# {first['task']}: type and location vs count", "",
         f"Variant `{first['adversary']['variant']}`, originals "
         f"`{first['originals_sha256'][:12]}`, alpha = {alpha:g}: "
         f"{len(rows)} splits from {len(group)} records "
         f"({', '.join(procedures)}, {records_lib.seeds_in_words(first)}). "
         "Generated from records by `python -m benchmark.analysis`; do not "
         "edit.", ""]
  if note:
    out += [note, ""]
  censored = sum(r.censored for r in rows)
  out += [
      "Security: min over procedures of the IQM hardness, as in the "
      "leaderboard. Share: scalars withheld. Depth: unweighted mean "
      "normalised forward position (0 = first layer, 1 = last) of the layers "
      "holding withheld variables; random scalar shares touch every layer, "
      "so they are left out of the depth statistics. Dominant type: kernels "
      "if a kernel is withheld, else the most frequent withheld type. Single "
      "layers: splits that withhold exactly the variables of one layer.", "",
      f"Censoring: {censored} of {len(rows)} splits have a censored security "
      "(`>`: some seed of the procedure attaining it never recovered within "
      "the budget). It is a lower bound and enters the statistics as it is, "
      "with censored seeds at the budget, so splits at the bound tie and "
      "share their rank. Spearman p-values are exact (all permutations) up "
      f"to {EXACT_MAX_N} splits, else scipy's t approximation (t); eta² is "
      "the share of the variance of security (and of its ranks) between "
      "dominant types.", "",
      "## Security vs count, location and type", "",
      "| feature | splits | n | censored | statistic | p |",
      "|---|---|---:|---:|---:|---:|"]
  for feature, subset, stat, n_censored in correlations(rows):
    label = "share withheld" if feature == "share" else feature
    out.append(f"| {label} | {subset} | {stat.n} | {n_censored} | "
               f"rho = {_number(stat.value, '+.3f')} "
               f"(rho² {_number(stat.value**2, '.3f')}) | "
               f"{_number(stat.p, '.3g')} ({stat.method or '—'}) |")
  out += [f"| dominant type ({len(set(r.dominant for r in known))} types) | "
          f"every split but the whole model | {len(known)} | "
          f"{sum(r.censored for r in known)} | eta² = {_number(eta, '.3f')} "
          f"(ranks: {_number(eta_ranks, '.3f')}) | "
          f"{_number(kruskal.p, '.3g')} (Kruskal-Wallis) |", "",
          "## Splits", "",
          "| split | family | withheld | layers | depth | types | dominant "
          "| security | by |",
          "|---|---|---:|---:|---:|---|---|---:|---|"]
  for r in rows:
    out.append(f"| {r.name} | {r.family} | {r.share:.2%} | {len(r.layers)} | "
               f"{r.depth:.3f} | {', '.join(r.types)} | {r.dominant} | "
               f"{_security(r)} | {r.procedure or '—'} |")
  typed = sorted((r for r in rows if r.single_type),
                 key=lambda r: (TYPE_ORDER.index(r.single_type), r.name))
  out += ["", "## Type-only splits", "",
          "| type | split | withheld | security | by |",
          "|---|---|---:|---:|---|"]
  out += [f"| {r.single_type} | {r.name} | {r.share:.2%} | {_security(r)} | "
          f"{r.procedure or '—'} |" for r in typed]
  return "\n".join(out)


def write(records_dir: str, output: str, alpha: float | None = None,
          variant: str | None = None) -> tuple[str, list[str], str]:
  """Builds the analysis of the protocol v2 records in `records_dir` into
  `output`, at `alpha` (default: the group's ranking alpha,
  `board.ranking_alpha`: its headline alpha).

  Returns:
    The markdown, one line per invalid record (left out) and one notice for
    the folder's protocol v1 records, and the note on the variant chosen
    ("" if there was no choice).

  Raises:
    InputError: no valid record of protocol v2, or see `select_group` and
      `split_rows`.
  """
  good, bad = leaderboard.read_current(records_dir)
  if not good:
    raise InputError(f"no valid record of protocol v2 in {records_dir}" +
                     (f"; {bad[0]}" if bad else ""))
  group, note = select_group(good, variant)
  if alpha is None:
    alpha, _ = board_lib.ranking_alpha(group)
  markdown = build(group, alpha, note)
  storage.write_text_atomic(output, markdown + "\n")
  return markdown, bad, note
