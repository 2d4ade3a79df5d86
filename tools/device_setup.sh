# Source on a GPU machine from the repository root (a `run` that carries
# `.whl`, and `.envpool` for envpool tasks):
#
#   [ENVPOOL=atari|doom] source tools/device_setup.sh
#
# Installs the carried wheels (`.whl/`, from tools/device_wheels.sh: what the
# machine's image lacks) into /tmp/site, unpacks the slim envpool of the
# family ENVPOOL names (`.envpool/<family>.tar.xz`, from
# tools/pack_envpool.sh) into a folder of its own, and sets the environment of mcbench's GPU runs
# (deterministic ops). Records name the commit: the copied tree has no .git,
# so pass MCBENCH_GIT_COMMIT. Each slim envpool registers only its family,
# so two unpacked into one folder replace each other: one family per
# process (for both in one call, `source` in two subshells).
# The family comes from the environment: a sourced script without
# arguments sees its caller's.
family=${ENVPOOL:-}
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl || return 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -n "$family" ]; then
  rm -rf "/tmp/envpool-$family" && mkdir -p "/tmp/envpool-$family" &&
    tar -xJf ".envpool/$family.tar.xz" -C "/tmp/envpool-$family" || return 1
  export PYTHONPATH=/tmp/envpool-$family/site:$PYTHONPATH
  export ENVPOOL_ASSETS_PATH=/tmp/envpool-$family/assets
fi
export PYTHONUNBUFFERED=1 XLA_FLAGS=--xla_gpu_deterministic_ops=true
