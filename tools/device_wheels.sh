#!/usr/bin/env bash
# Fetches into .whl/ (ignored) the Python 3.12 wheels that the GPU machines'
# image lacks for mcbench's RL tasks and records (gymnax, rlax and their
# needs, jsonschema, ml_collections), at the versions of this project's
# test environment. On the machine: `source tools/device_setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
mkdir -p .whl
for spec in gymnax==1.0.1 rlax==0.1.9 distrax==0.1.9 \
    tfp-nightly==0.26.0.dev20261027 dm-tree==0.1.10 gast==0.7.0 \
    decorator==5.3.2 dm-env==1.6 gymnasium==1.3.0 \
    farama-notifications==0.0.6 optree==0.20.0 jsonschema==4.26.0 \
    jsonschema-specifications==2025.9.1 referencing==0.37.0 \
    rpds-py==2026.9.1 ml_collections==1.1.0; do
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "$spec"
done
du -sh .whl
