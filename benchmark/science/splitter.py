"""Split schemes: which parameters are withheld, as data.

A scheme selects leaves of a variables pytree by their path: the pytree's key
path joined by `/`, collection first (`params/conv1/kernel`,
`batch_stats/bn1/mean`). Patterns are globs matched in full (`*` stays within
one level, `**` spans levels, `?` is one character) or, prefixed `re:`, full
regular expressions. Applying a scheme gives a boolean mask with the
variables' structure, one array per leaf with the leaf's shape, so that a
scheme may also withhold a random share of scalar entries.

Nothing here knows a task: built-in families are derived from the paths
alone (layers, residual blocks, stages, parameter types, branches,
first/last k layers or blocks, random shares).

Example:

  >>> scheme = Scheme(name="head", withhold=("params/head/**",))
  >>> mask = make_mask(variables, scheme)
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import zlib
from typing import Any, Iterable, Mapping, Sequence

import jax
import numpy as np
import yaml

from contract.spec import InputError

NAME_PATTERN = re.compile(r"[a-z0-9._-]{1,64}")
FAMILIES = ("layers", "blocks", "stages", "types", "branches", "first_k",
            "last_k", "first_k_blocks", "last_k_blocks", "random_layers",
            "random_scalars", "all", "roles")
# Roles every task's splits may play, pooled across tasks by cross-task
# views (never split names: `first.2` is 93% of one model and 0.1% of
# another). A task may declare its own patterns (`spec.Task.roles`); else
# they are derived from the layer order (`default_roles`).
ROLES = ("all", "all-but-head", "head", "first-layer", "kernels", "biases",
         "norms")
ROLE_PREFIX = "role."
BLOCK_NAME = re.compile(r"(block|residual)\d+")
SHORTCUT_NAME = "shortcut"
KERNEL_NAMES = ("kernel", "w", "embedding")
NORM_SCALE_NAMES = ("scale",)
NORM_OFFSET_NAMES = ("bias", "offset")
RANDOM_LAYER_SHARES = (0.5,)
RANDOM_SCALAR_SHARES = (0.1, 0.5)


@dataclasses.dataclass(frozen=True)
class Leaf:
  """One array of the variables: its path, shape and number of scalars."""

  path: str
  shape: tuple[int, ...]

  @property
  def size(self) -> int:
    return int(np.prod(self.shape, dtype=np.int64))

  @property
  def collection(self) -> str:
    return self.path.split("/", 1)[0]

  @property
  def layer(self) -> str:
    """The module holding the leaf, without collection and leaf name."""
    parts = self.path.split("/")
    return "/".join(parts[1:-1]) or parts[-1]

  @property
  def name(self) -> str:
    return self.path.rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class Scheme:
  """A named rule selecting withheld leaves (README, "Contributing a split
  scheme").

  Attributes:
    name: `[a-z0-9._-]{1,64}`.
    withhold: patterns of withheld paths.
    keep: patterns removed from the selection.
    description: free text.
    tasks: task names (`family/model`) the scheme applies to, or `("*",)`.
    share: fraction of the scalar entries of the selected leaves that are
      withheld, drawn with a generator seeded by the name (1.0: all of them).
  """

  name: str
  withhold: tuple[str, ...]
  keep: tuple[str, ...] = ()
  description: str = ""
  tasks: tuple[str, ...] = ("*",)
  share: float = 1.0

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def path_of(key_path: Sequence[Any]) -> str:
  """Joins a JAX key path with `/` (dict keys, attribute names, indices)."""
  parts = []
  for entry in key_path:
    for attribute in ("key", "name", "idx"):
      if hasattr(entry, attribute):
        parts.append(str(getattr(entry, attribute)))
        break
    else:
      parts.append(str(entry))
  return "/".join(parts)


def _walk(tree: Any, prefix: str) -> Iterable[tuple[str, Any]]:
  # Dicts are walked in insertion order, which is the order in which Flax and
  # Haiku create parameters, i.e. the forward order of the layers;
  # `jax.tree_util` would sort the keys.
  if isinstance(tree, Mapping):
    for key, value in tree.items():
      yield from _walk(value, f"{prefix}/{key}" if prefix else str(key))
  else:
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
      path = path_of(key_path)
      yield (f"{prefix}/{path}" if path and prefix else prefix or path), leaf


def leaves(variables: Any) -> list[Leaf]:
  """Every leaf of `variables` in creation order.

  Args:
    variables: a pytree of arrays (or of `jax.ShapeDtypeStruct`).

  Returns:
    One `Leaf` per array. Layer order (for first/last k) follows the order in
    which the dicts were built; pass freshly initialised variables, not ones
    restored from a checkpoint, if that order matters.
  """
  return [Leaf(path, tuple(np.shape(leaf))) for path, leaf in
          _walk(variables, "")]


def glob_to_regex(pattern: str) -> re.Pattern:
  """Compiles a path pattern (glob or `re:`) to a full-match regex."""
  if pattern.startswith("re:"):
    try:
      return re.compile(pattern[3:])
    except re.error as e:
      raise InputError(f"bad regular expression {pattern!r}: {e}") from e
  out = []
  i = 0
  while i < len(pattern):
    if pattern.startswith("**", i):
      out.append(".*")
      i += 2
    elif pattern[i] == "*":
      out.append("[^/]*")
      i += 1
    elif pattern[i] == "?":
      out.append("[^/]")
      i += 1
    else:
      out.append(re.escape(pattern[i]))
      i += 1
  return re.compile("".join(out))


def nearest_paths(pattern: str, paths: Sequence[str], n: int = 3) -> list[str]:
  stripped = pattern[3:] if pattern.startswith("re:") else pattern
  return difflib.get_close_matches(stripped, list(paths), n=n, cutoff=0.0)


def _matching(pattern: str, paths: Sequence[str], what: str,
              scheme_name: str) -> set[str]:
  regex = glob_to_regex(pattern)
  found = {p for p in paths if regex.fullmatch(p)}
  if not found:
    raise InputError(
        f"scheme {scheme_name!r}: {what} pattern {pattern!r} matches no path; "
        f"nearest: {', '.join(nearest_paths(pattern, paths))}")
  return found


def selected_paths(all_leaves: Sequence[Leaf], scheme: Scheme) -> list[str]:
  """The paths a scheme withholds, in leaf order.

  Raises:
    InputError: a pattern matches nothing, or the selection is empty.
  """
  paths = [leaf.path for leaf in all_leaves]
  chosen = set()
  for pattern in scheme.withhold:
    chosen |= _matching(pattern, paths, "withhold", scheme.name)
  for pattern in scheme.keep:
    chosen -= _matching(pattern, paths, "keep", scheme.name)
  if not chosen:
    raise InputError(f"scheme {scheme.name!r} selects nothing: its keep "
                     "patterns remove every withheld path")
  return [p for p in paths if p in chosen]


def make_mask(variables: Any, scheme: Scheme) -> Any:
  """The scheme's boolean mask: numpy arrays with the leaves' shapes.

  Args:
    variables: the pytree to split (arrays or shape structs).
    scheme: what to withhold.

  Returns:
    A pytree with the structure of `variables` whose leaves are boolean
    arrays, True where the scalar is withheld.
  """
  chosen = set(selected_paths(leaves(variables), scheme))
  rng = np.random.default_rng(zlib.crc32(scheme.name.encode()))
  by_path = {}
  for leaf in leaves(variables):  # Fixed order: the draws are reproducible.
    if leaf.path not in chosen:
      by_path[leaf.path] = np.zeros(leaf.shape, bool)
    elif scheme.share >= 1.0:
      by_path[leaf.path] = np.ones(leaf.shape, bool)
    else:
      by_path[leaf.path] = rng.random(leaf.shape) < scheme.share
  flat, treedef = jax.tree_util.tree_flatten_with_path(variables)
  return jax.tree_util.tree_unflatten(
      treedef, [by_path[path_of(kp)] for kp, _ in flat])


def summarize(variables: Any, mask: Any) -> dict[str, Any]:
  """Paths withheld (wholly or in part), count and share of scalars."""
  flat_mask = {path_of(kp): np.asarray(m) for kp, m in
               jax.tree_util.tree_flatten_with_path(mask)[0]}
  all_leaves = leaves(variables)
  withheld = int(sum(flat_mask[leaf.path].sum() for leaf in all_leaves))
  total = int(sum(leaf.size for leaf in all_leaves))
  return {
      "paths": [leaf.path for leaf in all_leaves if flat_mask[leaf.path].any()],
      "withheld": withheld,
      "total": total,
      "share": withheld / total,
  }


def scheme_name(*parts: str) -> str:
  """A valid scheme name from free-form parts (`layer`, `stage1/conv1`)."""
  name = ".".join(re.sub(r"[^a-z0-9._-]+", "-", p.lower()).strip("-")
                  for p in parts)
  if len(name) > 64:
    name = f"{name[:55]}-{zlib.crc32(name.encode()):08x}"
  return name


def _ordered_groups(all_leaves: Sequence[Leaf],
                    key) -> dict[str, list[str]]:
  """Paths grouped by `key(leaf)`, groups in order of first appearance."""
  groups: dict[str, list[str]] = {}
  for leaf in all_leaves:
    groups.setdefault(key(leaf), []).append(leaf.path)
  return groups


def _exact(paths: Iterable[str]) -> tuple[str, ...]:
  return tuple("re:" + re.escape(p) for p in paths)


def _stage(leaf: Leaf) -> str:
  return leaf.layer.split("/")[0]


def _block(leaf: Leaf) -> str:
  """The shortest prefix of the layer path that ends in a residual block
  (`block<i>` or `residual<i>`, the naming convention of our models), else
  the top-level module: stem, stage1/block0, ..., head."""
  parts = leaf.layer.split("/")
  for i, part in enumerate(parts):
    if BLOCK_NAME.fullmatch(part):
      return "/".join(parts[:i + 1])
  return parts[0]


def _branch(leaf: Leaf) -> str | None:
  """`shortcut` (projection shortcuts), `residual` (the rest of a residual
  block), None outside residual blocks."""
  parts = leaf.layer.split("/")
  if SHORTCUT_NAME in parts:
    return "shortcut"
  if any(BLOCK_NAME.fullmatch(part) for part in parts):
    return "residual"
  return None


def _leaf_type(leaf: Leaf, all_leaves: Sequence[Leaf]) -> str:
  if leaf.collection != "params":
    return "running_stats"
  siblings = {other.name for other in all_leaves if other.collection ==
              "params" and other.layer == leaf.layer}
  is_norm = bool(siblings & set(NORM_SCALE_NAMES))
  if is_norm and leaf.name in NORM_SCALE_NAMES:
    return "norm_scales"
  if is_norm and leaf.name in NORM_OFFSET_NAMES:
    return "norm_offsets"
  if leaf.name in KERNEL_NAMES:
    return "kernels"
  if leaf.name in ("bias", "b"):
    return "biases"
  return "other"


def leaf_types(all_leaves: Sequence[Leaf]) -> dict[str, str]:
  """The parameter type of each leaf, as the `types` family classifies it.

  Args:
    all_leaves: every leaf of the variables (a module is a norm layer if it
      has a `scale`, so the siblings matter).

  Returns:
    path -> `kernels`, `biases`, `norm_scales`, `norm_offsets`,
    `running_stats` or `other`.
  """
  return {leaf.path: _leaf_type(leaf, all_leaves) for leaf in all_leaves}


def _one_per_group(kind: str, groups: dict[str, list[str]],
                   what: str) -> list[Scheme]:
  return [Scheme(scheme_name(kind, group), _exact(paths),
                 description=f"withhold {what} {group}")
          for group, paths in groups.items()]


def _first_and_last(kind: str, groups: dict[str, list[str]], first: bool,
                    what: str) -> list[Scheme]:
  """The first (or last) k groups in forward order, k = 1, 2, 4, ... below
  the number of groups."""
  names = list(groups)
  ks = [2**i for i in range(10) if 2**i < len(names)]
  side = "first" if first else "last"
  return [Scheme(scheme_name(f"{side}{kind}", str(k)),
                 _exact(p for g in (names[:k] if first else names[-k:])
                        for p in groups[g]),
                 description=f"withhold the {side} {k} {what}(s) in forward "
                 "order") for k in ks]


def family_schemes(variables: Any, family: str,
                   roles: Mapping[str, Mapping[str, Sequence[str]]] | None
                   = None) -> list[Scheme]:
  """The built-in schemes of one family for the given variables.

  Families:
    layers: one per module holding leaves (each convolution, each norm
      layer with its running statistics, each dense layer).
    blocks: one per residual block (a module named `block<i>` or
      `residual<i>`) and per top-level module outside blocks (stem, head).
    stages: one per top-level module (stem, stage1, ..., head).
    types: kernels, biases, norm scales, norm offsets, running statistics.
    branches: residual branches only vs projection shortcuts only.
    first_k / last_k: the first or last k layers in forward order.
    first_k_blocks / last_k_blocks: the same over blocks.
    random_layers: a fixed random half of the layers.
    random_scalars: a fixed random 10% and 50% of all scalar entries.
    all: every variable.
    roles: one scheme `role.<role>` per role of `roles` (default:
      `default_roles`), see `ROLES`.
  Groups that come out empty (no residual block, no norm layer) give no scheme.

  Args:
    variables: the pytree to split.
    family: one of `FAMILIES`.
    roles: the task's declared roles (`spec.Task.roles`), for `roles`.

  Raises:
    InputError: unknown family.
  """
  all_leaves = leaves(variables)
  layers = _ordered_groups(all_leaves, lambda leaf: leaf.layer)
  blocks = _ordered_groups(all_leaves, _block)
  if family == "layers":
    return _one_per_group("layer", layers, "layer")
  if family == "blocks":
    return _one_per_group("block", blocks, "block")
  if family == "stages":
    return _one_per_group("stage", _ordered_groups(all_leaves, _stage),
                          "top-level module")
  if family == "types":
    groups = _ordered_groups(all_leaves, lambda l: _leaf_type(l, all_leaves))
    return [Scheme(scheme_name("type", kind), _exact(paths),
                   description=f"withhold all {kind.replace('_', ' ')}")
            for kind, paths in groups.items()]
  if family == "branches":
    groups = _ordered_groups(all_leaves, lambda l: str(_branch(l)))
    groups.pop("None", None)
    if "shortcut" not in groups:
      return []  # Without shortcuts, "residual" is just every block.
    return [Scheme(scheme_name("branch", kind), _exact(paths),
                   description=f"withhold every {kind} branch")
            for kind, paths in groups.items()]
  if family in ("first_k", "last_k"):
    return _first_and_last("", layers, family == "first_k", "layer")
  if family in ("first_k_blocks", "last_k_blocks"):
    return _first_and_last("-blocks", blocks, family == "first_k_blocks",
                           "block")
  if family == "random_layers":
    schemes = []
    for share in RANDOM_LAYER_SHARES:
      name = scheme_name("random-layers", str(share))
      rng = np.random.default_rng(zlib.crc32(name.encode()))
      names = list(layers)
      count = max(1, int(round(share * len(names))))
      picked = sorted(rng.choice(len(names), count, replace=False))
      schemes.append(Scheme(
          name, _exact(p for i in picked for p in layers[names[i]]),
          description=f"withhold a fixed random {share:.0%} of the layers"))
    return schemes
  if family == "random_scalars":
    return [Scheme(scheme_name("random-scalars", str(share)), ("**",),
                   share=share,
                   description=f"withhold a fixed random {share:.0%} of all "
                   "scalar entries") for share in RANDOM_SCALAR_SHARES]
  if family == "all":
    return [Scheme("all", ("**",), description="withhold every variable")]
  if family == "roles":
    return role_schemes(variables, roles)
  raise InputError(f"unknown split family {family!r}; families: "
                   f"{', '.join(FAMILIES)}")


def default_roles(variables: Any) -> dict[str, dict[str, tuple[str, ...]]]:
  """Roles derived from the layer order: the first and last layer (`head`),
  everything, everything but the head, and the parameter types present.
  A task whose last layer is not its head (an actor-critic's value head)
  declares its own (`spec.Task.roles`).

  Returns:
    role -> `{"withhold": patterns, "keep": patterns}`.
  """
  all_leaves = leaves(variables)
  layers = list(_ordered_groups(all_leaves, lambda leaf: leaf.layer).values())
  types = _ordered_groups(all_leaves, lambda l: _leaf_type(l, all_leaves))
  head = _exact(layers[-1])
  roles: dict[str, dict[str, tuple[str, ...]]] = {
      "all": {"withhold": ("**",), "keep": ()},
           "all-but-head": {"withhold": ("**",), "keep": head},
           "head": {"withhold": head, "keep": ()},
           "first-layer": {"withhold": _exact(layers[0]), "keep": ()}}
  norms = types.get("norm_scales", []) + types.get("norm_offsets", [])
  for role, paths in (("kernels", types.get("kernels")),
                      ("biases", types.get("biases")), ("norms", norms)):
    if paths:
      roles[role] = {"withhold": _exact(paths), "keep": ()}
  return roles


def role_schemes(variables: Any,
                 roles: Mapping[str, Mapping[str, Sequence[str]]] | None
                 = None) -> list[Scheme]:
  """One scheme `role.<role>` per role: `default_roles`, with the task's
  declared `roles` in place of the defaults they name.

  Raises:
    InputError: a role not in `ROLES`.
  """
  roles = {**default_roles(variables), **(roles or {})}
  schemes = []
  for role, patterns in roles.items():
    if role not in ROLES:
      raise InputError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    schemes.append(Scheme(
        ROLE_PREFIX + role, tuple(patterns["withhold"]),
        keep=tuple(patterns.get("keep", ())),
        description=f"the task's {role} (a role pooled across tasks)"))
  return schemes


def mask_hash(mask: Any) -> str:
  """SHA-256 of a mask's content: each leaf's path, shape and bits, in path
  order. Two schemes with the same mask have the same hash whatever their
  names, so runs keyed by it give the same numbers (PROTOCOL.md)."""
  digest = hashlib.sha256()
  flat = sorted((path_of(kp), np.asarray(m, bool)) for kp, m in
                jax.tree_util.tree_flatten_with_path(mask)[0])
  for path, bits in flat:
    digest.update(f"{path}:{bits.shape}:".encode())
    digest.update(np.packbits(bits.ravel()).tobytes())
  return digest.hexdigest()


def task_matches(scheme: Scheme, task_name: str) -> bool:
  base = task_name.split(":", 1)[0]
  return "*" in scheme.tasks or base in scheme.tasks or task_name in scheme.tasks


SCHEME_KEYS = {"name", "description", "tasks", "withhold", "keep", "share"}


def parse_scheme(data: Any, source: str = "scheme") -> Scheme:
  """Validates a scheme given as parsed YAML/JSON (plain data only).

  Raises:
    InputError: naming the first problem found.
  """
  if not isinstance(data, dict):
    optional = ", ".join(sorted(SCHEME_KEYS - {"name", "withhold"}))
    raise InputError(f"{source}: a scheme must be a mapping with keys "
                     f"name, withhold (and optionally {optional})")
  unknown = sorted(set(data) - SCHEME_KEYS)
  if unknown:
    raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                     f"allowed: {', '.join(sorted(SCHEME_KEYS))}")
  for required in ("name", "withhold"):
    if required not in data:
      raise InputError(f"{source}: missing required key {required!r}")
  name = data["name"]
  if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
    raise InputError(f"{source}: name {name!r} must match [a-z0-9._-]{{1,64}}")

  def string_list(key):
    value = data.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v for v in value):
      raise InputError(f"{source}: {key!r} must be a list of non-empty "
                       "strings")
    return tuple(value)

  withhold = string_list("withhold")
  if not withhold:
    raise InputError(f"{source}: 'withhold' is empty: the scheme selects "
                     "nothing")
  for pattern in withhold + string_list("keep"):
    glob_to_regex(pattern)  # Raises on a bad regular expression.
  description = data.get("description", "")
  if not isinstance(description, str):
    raise InputError(f"{source}: 'description' must be a string")
  share = data.get("share", 1.0)
  if isinstance(share, bool) or not isinstance(share, (int, float)) or not (
      0.0 < share <= 1.0):
    raise InputError(f"{source}: 'share' must be a number in (0, 1]")
  return Scheme(name=name, withhold=withhold, keep=string_list("keep"),
                description=description, tasks=string_list("tasks") or ("*",),
                share=float(share))


def load_scheme_file(path: str) -> Scheme:
  """Reads a YAML or JSON scheme file (safe loading: data, never code)."""
  if not os.path.isfile(path):
    raise InputError(f"scheme file {path} not found")
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
    data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
  except json.JSONDecodeError as e:
    raise InputError(f"{path}:{e.lineno}:{e.colno}: malformed scheme file: "
                     f"{e.msg}") from e
  except yaml.YAMLError as e:
    # PyYAML knows where: the problem's mark (1-based here, as editors).
    mark = getattr(e, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
    problem = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
    context = getattr(e, "context", None)
    raise InputError(f"{path}{where}: malformed scheme file: "
                     + (f"{context}: {problem}" if context else problem)
                     ) from e
  except UnicodeDecodeError as e:
    raise InputError(f"{path}: malformed scheme file: not UTF-8 text "
                     f"({e.reason} at byte {e.start})") from e
  return parse_scheme(data, source=path)


def is_scheme_file(spec: str) -> bool:
  return spec.endswith((".yaml", ".yml", ".json"))


def resolve_schemes(variables: Any, specs: Sequence[str], task_name: str,
                    roles: Mapping[str, Mapping[str, Sequence[str]]] | None
                    = None) -> list[tuple[Scheme, Any]]:
  """Turns `--splits` entries into validated (scheme, mask) pairs.

  Each entry is a family name, a built-in scheme name (`layer.head`), or the
  path of a scheme file. Schemes whose mask equals an earlier one (e.g. the
  blocks of a flat model are its layers) are dropped; `roles_of` tells which
  roles a kept scheme plays. `roles` are the task's declared roles.

  Raises:
    InputError: unknown entry, invalid scheme, scheme for another task.
  """
  chosen: list[tuple[Scheme, Any]] = []

  def add(scheme):
    if not task_matches(scheme, task_name):
      raise InputError(f"scheme {scheme.name!r} applies to "
                       f"{', '.join(scheme.tasks)}, not to {task_name}")
    mask = make_mask(variables, scheme)
    flat = [np.asarray(m) for m in jax.tree.leaves(mask)]
    for other, other_mask in chosen:
      if other.name == scheme.name:
        if other != scheme:
          raise InputError(f"two different schemes are named {scheme.name!r}")
        return
      if all(np.array_equal(a, b) for a, b in
             zip(flat, jax.tree.leaves(other_mask))):
        return
    chosen.append((scheme, mask))

  builtin = None
  for spec in specs:
    if is_scheme_file(spec):
      add(load_scheme_file(spec))
    elif spec in FAMILIES:
      for scheme in family_schemes(variables, spec, roles):
        add(scheme)
    else:
      if builtin is None:
        builtin = {s.name: s for f in FAMILIES
                   for s in family_schemes(variables, f, roles)}
      if spec not in builtin:
        raise InputError(
            f"unknown split {spec!r}: not a family ({', '.join(FAMILIES)}), "
            "a scheme file (.yaml/.json) or a built-in scheme; nearest: "
            f"{', '.join(difflib.get_close_matches(spec, list(builtin), 3, 0))}")
      add(builtin[spec])
  return chosen


def roles_of(variables: Any, schemes: Sequence[tuple[Scheme, Any]],
             roles: Mapping[str, Mapping[str, Sequence[str]]] | None = None
             ) -> dict[str, list[str]]:
  """Split name -> the roles whose mask it has (`role_schemes`), so that a
  role kept under another name (`layer.head` for `role.head`) is found."""
  by_hash: dict[str, list[str]] = {}
  for scheme in role_schemes(variables, roles):
    by_hash.setdefault(mask_hash(make_mask(variables, scheme)), []).append(
        scheme.name[len(ROLE_PREFIX):])
  return {scheme.name: by_hash.get(mask_hash(mask), [])
          for scheme, mask in schemes}
