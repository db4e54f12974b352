#!/usr/bin/env bash
# Install LWD Operator into ./.venv, with the Debian packages it needs where this user can add them.
#   scripts/install.sh         runtime (hub, robots, learner, consoles)
#   scripts/install.sh --dev   runtime + test tools
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# MuJoCo offscreen rendering (OSMesa/EGL), Qt's xcb platform, PortAudio for alerts, Xvfb for screenshots.
APT_PKGS=(libosmesa6 libegl1 libgl1 libglib2.0-0 libportaudio2 libfontconfig1 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
  libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 xvfb)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    echo "installing system packages: ${missing[*]}"
    if ! { $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
      { $SUDO apt-get update -q >/dev/null 2>&1 &&
        $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }; }; then
      echo "warning: could not install ${missing[*]}; camera rendering, audio or the Qt window may be unavailable" >&2
    fi
  else
    echo "warning: no apt-get; please install the equivalents of: ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
if [ "${1:-}" = "--dev" ]; then
  # LeRobot's own dataset loader, in its own environment (the test of our export runs it).
  bash scripts/lerobot_env.sh || echo "warning: .venv-lerobot could not be made; the LeRobot loader test will fail" >&2
fi
