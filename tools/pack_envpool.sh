#!/usr/bin/env bash
# Packs envpool 1.2.5 (cp312) for the GPU machine, which may carry only 64 MiB
# per call: the package cut to one game family, plus only that family's assets.
#   bash tools/pack_envpool.sh            # writes .envpool/{atari,doom}.tar.xz
# On the device (carry .envpool): ENVPOOL=doom|atari source tools/device_setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 -d "$wheels" envpool==1.2.5
assets=$(python3 -c "import envpool_assets, os; print(os.path.dirname(envpool_assets.__file__))")
mkdir -p .envpool
for family in atari vizdoom; do
  work=$(mktemp -d)
  unzip -q "$wheels"/envpool-*.whl -d "$work/site"
  find "$work/site/envpool" -mindepth 1 -maxdepth 1 -type d \
    ! -name python ! -name "$family" -exec rm -rf {} +
  printf '"""Entry point cut to %s (slimmed for the GPU machine)."""\nimport envpool.%s.registration  # noqa: F401\n' \
    "$family" "$family" > "$work/site/envpool/entry.py"
  if [ "$family" = atari ]; then
    mkdir -p "$work/assets/atari/roms"
    cp "$assets"/atari/roms/{pong,breakout}.bin "$work/assets/atari/roms/"
    out=atari
  else
    mkdir -p "$work/assets/vizdoom/maps" "$work/assets/vizdoom/bin"
    cp "$assets"/vizdoom/maps/my_way_home.* "$work/assets/vizdoom/maps/"
    cp "$assets"/vizdoom/bin/freedoom2.wad "$work/assets/vizdoom/bin/"
    out=doom
  fi
  tar -cJf ".envpool/$out.tar.xz" -C "$work" site assets
  rm -rf "$work"
done
rm -rf "$wheels"
ls -la .envpool
