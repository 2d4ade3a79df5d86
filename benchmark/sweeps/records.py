"""Result records: one JSON file per (task, originals, split, procedure,
adversary variant), written atomically and validated on read.

A record has three fingerprints, for three questions:

* `content_sha256` (stored): is this file what the run wrote? It covers
  everything but `provenance` (wall time and machine details), every bit of
  every float included, so an edited or corrupt record fails it and is named
  as such. Two runs on the same platform and CPU give the same value; on
  another CPU the curves' floats differ in their last bits, and so does it.
* `record_id` (computed): which question does it answer? The task and its
  recipe, the split (name and mask), the procedure, the adversary, budget,
  alphas, protocol version and the seeds of the runs and of the originals:
  what a user asks for with flags, the same on every machine. This is a
  record's identity.
* `result_sha256` (computed): what did it measure, at the measurement's
  own resolution? Each seed's first reach `t` and censoring, `t0` and the
  originals' first reaches, per alpha, on the evaluation grid (integers of
  the cost unit), and the headline alpha. No float of a curve goes in, so
  two machines whose runs reach every alpha at the same evaluation agree
  on it, whatever their last bits: this is what reproducing a record means
  (`python -m benchmark.reproduce`).

Records of measurement protocol v1 (`mcbench.record/1`) are still read and
validated, so that they can be recognised and left out of v2 views
(`is_current`), never mixed with v2 records (`mcbench.record/2`).
"""

from __future__ import annotations

import copy
import glob
import os
from typing import Any

import jsonschema

from benchmark.sweeps import storage
from contract.spec import InputError

SCHEMA_ID = "mcbench.record/2"
V1_SCHEMA_ID = "mcbench.record/1"

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_NUMBERS = {"type": "array", "items": {"type": "number"}}

SCHEMA = {
    "type": "object",
    "required": ["schema", "content_sha256", "task", "task_config", "split",
                 "originals_sha256", "procedure", "adversary", "budget", "alphas", "p0",
                 "originals", "reference", "eval_costs", "seeds", "hardness",
                 "provenance"],
    "properties": {
        "schema": {"const": V1_SCHEMA_ID},
        "content_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "task": {"type": "string"},
        "task_config": {"type": "object"},
        "originals_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "split": {
            "type": "object",
            "required": ["name", "withhold", "keep", "paths", "withheld",
                         "total", "share"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"},
                "paths": {"type": "array", "items": {"type": "string"}},
                "withheld": {"type": "integer", "minimum": 1},
                "total": {"type": "integer", "minimum": 1},
                "share": {"type": "number", "exclusiveMinimum": 0,
                          "maximum": 1},
            },
        },
        "procedure": {"type": "object", "required": ["name"]},
        "adversary": {"type": "object", "required": ["variant"]},
        "budget": {"type": "object",
                   "required": ["fraction", "cost", "cost_unit"]},
        "alphas": {**_NUMBERS, "minItems": 1},
        "p0": {"type": "number"},
        "originals": {
            "type": "array", "minItems": 1,
            "items": {"type": "object",
                      "required": ["seed", "content_sha256", "p_star"]},
        },
        "reference": {"type": "object", "required": ["t0"]},
        "eval_costs": _NUMBERS,
        "seeds": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["seed", "original_seed", "diverged",
                             "performance"],
                "properties": {
                    "performance": {"type": "array",
                                    "items": _NUMBER_OR_NULL},
                    "diverged": {"type": "boolean"},
                },
            },
        },
        "hardness": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["alpha", "t0", "t", "hardness", "censored",
                             "summary"],
                "properties": {
                    "t": {"type": "array", "items": _NUMBER_OR_NULL},
                    "hardness": {"type": "array", "items": _NUMBER_OR_NULL},
                    "censored": {"type": "array",
                                 "items": {"type": "boolean"}},
                },
            },
        },
        "provenance": {"type": "object"},
    },
}

V1_SCHEMA = SCHEMA


def _v2_schema() -> dict[str, Any]:
  """Protocol v2's record: v1's, plus the protocol's fields (evaluation
  error, headline alpha, originals check), the mask's hash and roles, the
  fine-tuning grid's schedules and each alpha's cap."""
  schema = copy.deepcopy(V1_SCHEMA)
  properties = schema["properties"]
  properties["schema"] = {"const": SCHEMA_ID}
  schema["required"] = schema["required"] + ["protocol"]
  properties["protocol"] = {
      "type": "object",
      "required": ["version", "evaluation_standard_error", "headline_alpha",
                   "originals_check"],
      "properties": {"version": {"const": 2},
                     "evaluation_standard_error": {"type": "number",
                                                   "minimum": 0},
                     "headline_alpha": _NUMBER_OR_NULL,
                     "originals_check": {"type": "object",
                                         "required": ["converged"]}}}
  split = properties["split"]
  split["required"] = split["required"] + ["mask_sha256", "roles"]
  split["properties"]["mask_sha256"] = {"type": "string",
                                        "pattern": "^[0-9a-f]{64}$"}
  split["properties"]["roles"] = {"type": "array",
                                  "items": {"type": "string"}}
  properties["procedure"] = {
      "type": "object", "required": ["name", "schedules"],
      "properties": {"schedules": {
          "type": "array", "minItems": 1,
          "items": {"type": "object", "required": [
              "label", "peak_learning_rate", "decay_updates"]}}}}
  seed = properties["seeds"]["items"]["properties"]
  seed["grid"] = {"type": "array", "items": {
      "type": "object", "required": ["schedule", "diverged", "performance"],
      "properties": {"performance": {"type": "array",
                                     "items": _NUMBER_OR_NULL}}}}
  row = properties["hardness"]["items"]
  row["required"] = row["required"] + ["cap"]
  row["properties"]["cap"] = _NUMBER_OR_NULL
  row["properties"]["won"] = {"type": "array",
                              "items": {"type": ["string", "null"]}}
  return schema


SCHEMA = _v2_schema()

# One validator per schema: `jsonschema.validate` checks the schema itself
# at each call, which was most of the time of reading the committed records
# (14.4 s of 364 records against 1.3 s).
_SCHEMA_CLASS = jsonschema.validators.validator_for(SCHEMA)
_VALIDATORS = {}
for _schema in (V1_SCHEMA, SCHEMA):
  _SCHEMA_CLASS.check_schema(_schema)
  _VALIDATORS[_schema["properties"]["schema"]["const"]] = _SCHEMA_CLASS(
      _schema)


def validate(record: dict[str, Any]) -> None:
  """Raises `jsonschema.ValidationError` (the most relevant error, as
  `jsonschema.validate` picks it) where `record` matches neither protocol's
  schema (the one its `schema` names, else the current one)."""
  schema_id = record.get("schema") if isinstance(record, dict) else None
  validator = _VALIDATORS.get(schema_id, _VALIDATORS[SCHEMA_ID])
  error = jsonschema.exceptions.best_match(validator.iter_errors(record))
  if error is not None:
    raise error


def is_current(record: dict[str, Any]) -> bool:
  """Whether `record` was measured under the current protocol (v2)."""
  return record["schema"] == SCHEMA_ID


def protocol_notice(record: dict[str, Any], where: str) -> str:
  """The one-line notice for a record of an older protocol left out."""
  return (f"record {where} was measured under protocol v1 "
          f"({record['schema']}): left out, never mixed with protocol v2")


def seeds_in_words(record: dict[str, Any]) -> str:
  """"1 seed" or "N seeds": how many completion seeds `record` holds."""
  count = len(record["seeds"])
  return f"{count} seed" + ("" if count == 1 else "s")


def content_hash(record: dict[str, Any]) -> str:
  body = {k: v for k, v in record.items()
          if k not in ("content_sha256", "provenance")}
  return storage.json_hash(body)


def identity(record: dict[str, Any]) -> dict[str, Any]:
  """The question a record answers: every setting that chose what was run,
  nothing that was measured (see the module docstring)."""
  return {
      "task": record["task"], "task_config": record["task_config"],
      "split": {"name": record["split"]["name"],
                "mask_sha256": record["split"].get("mask_sha256")},
      "procedure": record["procedure"], "adversary": record["adversary"],
      "budget": record["budget"], "alphas": record["alphas"],
      "early_stop": record["early_stop"],
      "protocol_version": (record.get("protocol") or {}).get("version", 1),
      "seeds": [[s["seed"], s["original_seed"]] for s in record["seeds"]],
      "originals": [o["seed"] for o in record["originals"]],
  }


def record_id(record: dict[str, Any]) -> str:
  """sha256 of `identity(record)`: the same on every machine."""
  return storage.json_hash(identity(record))


def measurement(record: dict[str, Any]) -> dict[str, Any]:
  """What a record measured, at the evaluation grid's resolution: per
  alpha `t0` and each seed's first reach and censoring, the originals'
  first reaches, the grids, the headline alpha and which seeds diverged."""
  reference = record.get("reference") or {}
  return {
      "eval_costs": record["eval_costs"],
      "reference_eval_costs": reference.get("eval_costs"),
      "originals_t": reference.get("originals_t"),
      "rows": [{"alpha": row["alpha"], "t0": row["t0"], "t": row["t"],
                "censored": row["censored"]} for row in record["hardness"]],
      "diverged": [s.get("diverged", False) for s in record["seeds"]],
      "headline_alpha": (record.get("protocol") or {}).get("headline_alpha"),
  }


def result_sha256(record: dict[str, Any]) -> str:
  """sha256 of `measurement(record)`: equal for two runs that reach every
  alpha at the same evaluation, on any machine."""
  return storage.json_hash(measurement(record))


def finalise(record: dict[str, Any]) -> dict[str, Any]:
  """Adds the schema id and content hash; validates the result."""
  record = storage.as_json({**record, "schema": SCHEMA_ID})
  record["content_sha256"] = content_hash(record)
  validate(record)
  return record


def record_path(records_dir: str, split: str, procedure: str, variant: str,
                originals_sha256: str) -> str:
  """`<split>__<procedure>__<variant>__<originals hash>.json`.

  The variant label carries every adversary setting that changes results and
  the hash names the originals, so neither overwrites the other's records.
  """
  name = f"{split}__{procedure}__{variant}__{originals_sha256[:12]}.json"
  return os.path.join(records_dir, name)


def write(records_dir: str, record: dict[str, Any]) -> str:
  path = record_path(records_dir, record["split"]["name"],
                     record["procedure"]["name"],
                     record["adversary"]["variant"],
                     record["originals_sha256"])
  storage.write_json_atomic(path, record)
  return path


def read(path: str) -> dict[str, Any]:
  """Reads and validates one record.

  Raises:
    InputError: unreadable, not matching the schema, or its content hash
      does not match (edited or corrupt).
  """
  record = storage.read_json(path)
  try:
    validate(record)
  except jsonschema.ValidationError as e:
    where = "/".join(str(p) for p in e.absolute_path) or "top level"
    raise InputError(f"record {path} is invalid at {where}: "
                     f"{e.message}") from e
  if content_hash(record) != record["content_sha256"]:
    raise InputError(f"record {path} is corrupt or was edited: its content "
                     "does not match its content_sha256")
  return record


def read_all(records_dir: str) -> tuple[list[dict], list[str]]:
  """Every valid record in a folder, and one error line per bad file."""
  good, bad = [], []
  for path in sorted(glob.glob(os.path.join(records_dir, "*.json"))):
    try:
      good.append(read(path))
    except InputError as e:
      bad.append(str(e))
  return good, bad
