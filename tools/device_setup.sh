# Source on a GPU machine from the repository root (a `run` that carries
# `.whl`): installs the carried wheels into /tmp/site and sets the
# environment of mcbench's GPU runs (deterministic ops; records name the
# commit, since the copied tree has no .git: pass MCBENCH_GIT_COMMIT).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl || return 1
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 XLA_FLAGS=--xla_gpu_deterministic_ops=true
