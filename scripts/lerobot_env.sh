#!/usr/bin/env bash
# Make ./.venv-lerobot: the `lerobot` package's own dataset loader, which the test of our
# LeRobot export runs (tests/core/store/test_lerobot_format.py, via
# tests/core/store/lerobot_loader.py). Made once, then reused (delete the folder to remake it).
#
# Why a separate environment, and why not lerobot's own dependencies: lerobot 0.4.4 pins
# torch<2.11 and torchvision<0.26 (the project runs torch 2.13.0), and its pins pull a CUDA
# torch of several GB plus robot, training and logging stacks (diffusers, wandb, rerun,
# opencv, gymnasium...). Its dataset loader needs far less. PyPI's torchvision and torchcodec
# wheels for torch 2.13 link CUDA libraries (they fail to load next to the CPU torch), and
# torchvision dropped the VideoReader that lerobot's "pyav" backend calls; so this installs
# lerobot with --no-deps, the CPU torch 2.13.0 wheel, and what lerobot.datasets imports, and
# lerobot_loader.py supplies torchvision's VideoReader on top of PyAV (lerobot's own frame
# lookup, timestamp tolerance and tensor conversion run unchanged). About 1.4 GB on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LEROBOT_VENV:-.venv-lerobot}
probe='import lerobot.datasets.lerobot_dataset'
loader=tests/core/store/lerobot_loader.py
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" "$loader" --probe >/dev/null 2>&1; then
  exit 0
fi
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" 'torch==2.13.0'
"${pip[@]}" --no-deps 'lerobot==0.4.4'
# What lerobot.datasets.lerobot_dataset imports (lerobot's own pins where it has them).
"${pip[@]}" 'datasets>=4.0.0,<5.0.0' 'huggingface-hub>=0.34.2,<0.36.0' 'av>=15.0.0,<16.0.0' \
  'packaging>=24.2,<26.0' 'draccus==0.10.0' 'einops>=0.8.0,<0.9.0' 'jsonlines>=4.0.0,<5.0.0' \
  'deepdiff>=7.0.1,<9.0.0' 'termcolor>=2.4.0,<4.0.0' 'accelerate>=1.10.0,<2.0.0' pandas pyarrow fsspec pillow numpy
"$VENV/bin/python" "$loader" --probe
