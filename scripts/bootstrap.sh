#!/usr/bin/env bash
# Makes a fresh machine ready: system packages from apt when missing, uv from PyPI when missing,
# then a virtualenv holding exactly the hashed pins of requirements.lock plus our own packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || need_apt+=(postgresql)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need_apt+=(rabbitmq-server)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
# promtool checks and unit-tests the alert rules (tests/test_alerts.py).
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# A real browser drives the colleague's page (tests/integration/test_colleague_page_browser.py).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# `kubectl kustomize` renders the Kubernetes overlays for their tests (tests/deploy/). Any
# kubectl will do; Debian's comes with kubernetes-client.
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]} from apt"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian packages start system-wide servers; ours run on their own ports, so stop those.
  $sudo_cmd service rabbitmq-server stop >/dev/null 2>&1 || true
  $sudo_cmd service postgresql stop >/dev/null 2>&1 || true
  $sudo_cmd service prometheus stop >/dev/null 2>&1 || true
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv from PyPI"
  # Debian's own Python refuses user installs (PEP 668); uv is a standalone binary, so the
  # override only places that binary in ~/.local/bin.
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
  export PATH="$HOME/.local/bin:$PATH"
fi

python=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
  uv venv --quiet --python "$python" .venv
fi
stamp=.venv/.chorus-lock.sha256
want=$(cat requirements.lock libs/*/pyproject.toml services/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages from requirements.lock"
  uv pip sync --quiet --python .venv/bin/python --require-hashes requirements.lock
  editable=()
  for member in libs/* services/*; do editable+=(-e "$member"); done
  uv pip install --quiet --python .venv/bin/python --no-deps "${editable[@]}"
  echo "$want" > "$stamp"
fi
