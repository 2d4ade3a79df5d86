# Prepares a fresh GPU machine for the RL tasks; source it from the repository
# root, naming the envpool family the call needs (or none):
#   source results/logs/scripts/device_env.sh doom|atari|none
# Installs the carried wheels (`.whl/`, not in the image) into /tmp/site and
# unpacks the slim envpool of that family (`.envpool/<family>.tar.xz`, from
# slim_envpool.sh) into a folder of its own: each slim build registers only
# its family, so two unpacked into one folder replace each other (a lost
# Doom call, BUILD_NOTES 2026-12-01). One family per process: for both in
# one call, run each process under its own `source` in a subshell.
family=${1:?"usage: source device_env.sh doom|atari|none"}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl || return 1
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
if [ "$family" != none ]; then
  rm -rf "/tmp/envpool-$family" && mkdir -p "/tmp/envpool-$family" &&
    tar -xJf ".envpool/$family.tar.xz" -C "/tmp/envpool-$family" || return 1
  export PYTHONPATH=/tmp/envpool-$family/site:$PYTHONPATH
  export ENVPOOL_ASSETS_PATH=/tmp/envpool-$family/assets
fi
export PYTHONUNBUFFERED=1 XLA_FLAGS=--xla_gpu_deterministic_ops=true
