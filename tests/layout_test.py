"""The layout is the architecture: imports point one way, with no cycle.

Every `import` of the project's own modules counts, at module level or inside
a function, since a function-level import is a dependency all the same. The
floors, from the bottom: `contract` (what a task is), `agents` (how to
learn), `tasks` (data, environments, models, recipes), then `benchmark`,
whose sub-packages stack as science < engine < sweeps < publishing <
diagnostics, with the command-line modules (`benchmark/*.py`) on top.
"""

from __future__ import annotations

import ast
import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("contract", "agents", "tasks", "benchmark")
# Rank of each floor: a module may import modules of its own rank or lower.
RANKS = {"contract": 0, "agents": 1, "tasks": 2,
         "benchmark.science": 3, "benchmark.engine": 4, "benchmark.sweeps": 5,
         "benchmark.publishing": 6, "benchmark.diagnostics": 7,
         "benchmark": 8}


def module_files(root: str = ROOT) -> dict[str, str]:
  """Module name -> file, for every module of the project's packages."""
  modules = {}
  for package in PACKAGES:
    for folder, _, files in os.walk(os.path.join(root, package)):
      for name in files:
        if not name.endswith(".py"):
          continue
        path = os.path.join(folder, name)
        parts = os.path.relpath(path, root)[:-3].split(os.sep)
        if parts[-1] == "__init__":
          parts = parts[:-1]
        modules[".".join(parts)] = path
  return modules


def imports_of(name: str, path: str, modules: set[str]) -> set[str]:
  """The project modules that module `name` imports, anywhere in it."""
  package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
  found = set()
  with open(path) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      # `from a import b`: `a.b` where b is a module, else `a` itself.
      targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules
                 else base for alias in node.names]
    else:
      continue
    found.update(t for t in targets if t in modules and t != name)
  return found


def import_graph(root: str = ROOT) -> dict[str, set[str]]:
  modules = module_files(root)
  return {name: imports_of(name, path, set(modules))
          for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import cycle as a path `[a, b, ..., a]`, or None."""
  state = {}  # 1: on the current path, 2: done.
  path = []

  def visit(node):
    state[node] = 1
    path.append(node)
    for target in sorted(graph.get(node, ())):
      if state.get(target) == 1:
        return path[path.index(target):] + [target]
      if target not in state:
        cycle = visit(target)
        if cycle:
          return cycle
    state[node] = 2
    path.pop()
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


def rank(module: str) -> int:
  """The floor of `module`: its longest prefix in `RANKS`."""
  parts = module.split(".")
  for size in range(len(parts), 0, -1):
    prefix = ".".join(parts[:size])
    if prefix in RANKS:  # `benchmark.cli` and the commands: the top floor.
      return RANKS[prefix]
  raise KeyError(module)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
  return sorted(f"{source} -> {target}"
                for source, targets in graph.items() for target in targets
                if rank(target) > rank(source))


def test_no_import_cycle():
  cycle = find_cycle(import_graph())
  assert cycle is None, " -> ".join(cycle)


def test_imports_point_down_the_floors():
  assert upward_imports(import_graph()) == []


def test_benchmark_names_no_task():
  """`benchmark/` finds tasks through the registry only."""
  graph = import_graph()
  named = sorted(f"{source} -> {target}" for source, targets in graph.items()
                 if source.startswith("benchmark") for target in targets
                 if target.startswith("tasks.") and target != "tasks.registry")
  assert named == []


def test_checks_catch_a_cycle_and_an_upward_import(tmp_path):
  """The checks above can fail: a planted cycle and a planted upward import
  in a copy of the layout are found."""
  for package in ("benchmark", "benchmark/science", "benchmark/engine"):
    os.makedirs(tmp_path / package, exist_ok=True)
    (tmp_path / package / "__init__.py").write_text("")
  (tmp_path / "benchmark/science/hardness.py").write_text(
      "from benchmark.engine import completion\n")
  (tmp_path / "benchmark/engine/completion.py").write_text(
      "def f():\n  from benchmark.science import hardness\n")
  graph = import_graph(str(tmp_path))
  assert find_cycle(graph) == ["benchmark.engine.completion",
                               "benchmark.science.hardness",
                               "benchmark.engine.completion"]
  assert upward_imports(graph) == [
      "benchmark.science.hardness -> benchmark.engine.completion"]


@pytest.mark.parametrize("command", [
    "analysis", "figures", "findings", "leaderboard", "perf", "regression",
    "reproduce", "run", "splits", "submit", "throughput", "train", "tune"])
def test_commands_are_thin(command):
  """`python -m benchmark.<command>` parses flags and calls the library: no
  class, and few lines beyond its flags and `main`."""
  path = os.path.join(ROOT, "benchmark", f"{command}.py")
  with open(path) as f:
    source = f.read()
  tree = ast.parse(source)
  assert not [node for node in tree.body if isinstance(node, ast.ClassDef)]
  assert re.search(r"^def main\(argv\):", source, re.M)
  assert 'if __name__ == "__main__":\n  cli.run(main)' in source


def flow_functions(page: str) -> list[str]:
  """The dotted function names in the flow diagram of ARCHITECTURE.md."""
  flow = page.split("## The flow of a measurement", 1)[1].split("```")[1]
  return sorted(set(re.findall(
      r"\b(?:science|engine|sweeps|publishing|tasks)\.[a-z_]+\.[a-z_]+",
      flow)))


def test_the_architecture_page_names_functions_that_exist():
  """Each arrow of docs/ARCHITECTURE.md's flow names the function that does
  it (`──package.module.function──▶`); each must exist where it says."""
  with open(os.path.join(ROOT, "docs", "ARCHITECTURE.md")) as f:
    names = flow_functions(f.read())
  assert len(names) >= 15, names
  missing = []
  for name in names:
    module_name, _, function = name.rpartition(".")
    if not module_name.startswith("tasks."):
      module_name = f"benchmark.{module_name}"
    module = importlib.import_module(module_name)
    if not callable(getattr(module, function, None)):
      missing.append(name)
  assert missing == []
