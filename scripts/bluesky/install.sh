#!/usr/bin/env bash
# Installs the local Bluesky network (@atproto/dev-env and a Node 22 binary, both pinned in
# package.json + package-lock.json) into a cache folder OUTSIDE the checkout, and prints that
# folder on stdout (last line). Reuses it when present; safe when two runs race (each installs
# into its own temporary folder and renames it into place; the loser throws its copy away).
#
#   scripts/bluesky/install.sh            # -> ~/.cache/chorus/bluesky-<hash>
#   CHORUS_CACHE=/somewhere scripts/bluesky/install.sh
#
# Why it is done this way (see /work/shared/networks.md section 8):
# - Node 22 comes from the npm registry as the platform package node-linux-<arch>, locked with
#   its integrity hash. (The `node` meta-package would fetch that package in a preinstall script,
#   outside the lockfile and its hashes.) The system Node 20 cannot run dev-env.
# - The lockfile has no `resolved` fields (no registry host is committed): `npm ci` takes each
#   package by name and version from the configured registry and checks its `integrity`.
# - better-sqlite3's prebuilt download is unreachable: it is built from source against Node 22's
#   headers (npm_config_nodedir), with Node 22 first on PATH. Other install scripts are not run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Bump RECIPE when the steps below change in a way that changes the result.
RECIPE=1
cache_root="${CHORUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chorus}"
hash="$( { echo "recipe $RECIPE"; cat "$here/package.json" "$here/package-lock.json"; } \
    | sha256sum | cut -c1-16)"
final="$cache_root/bluesky-$hash"

log() { echo "bluesky install: $*" >&2; }

case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac

if [[ -f "$final/.complete" ]]; then
    echo "$final"
    exit 0
fi

# One install at a time per cache: a second run (the tests, while `make test` installs in the
# background) waits for the first and then finds its result.
mkdir -p "$cache_root"
exec 9>"$cache_root/.bluesky-$hash.lock"
flock 9
if [[ -f "$final/.complete" ]]; then
    echo "$final"
    exit 0
fi

for tool in npm g++ make python3 sha256sum; do
    command -v "$tool" >/dev/null || { log "needs $tool on PATH"; exit 1; }
done

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.bluesky-$hash.tmp.XXXXXX")"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

cp "$here/package.json" "$here/package-lock.json" "$tmp/"
cd "$tmp"
started=$SECONDS

log "npm ci into $tmp"
# --ignore-scripts: no package runs code at install time; the one native module is built below.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2

nodedir="$tmp/node_modules/node-linux-$arch"
node22="$nodedir/bin/node"
[[ -x "$node22" && -f "$nodedir/include/node/node.h" ]] \
    || { log "node-linux-$arch did not install a binary and headers"; exit 1; }
log "node $("$node22" --version); building better-sqlite3 from source (log: $tmp/build.log)"
# A global `nodedir=/usr` would point node-gyp at Node 20's headers: override it.
if ! PATH="$nodedir/bin:$PATH" \
    npm_config_nodedir="$nodedir" \
    npm_config_build_from_source=true \
    JOBS=max \
    npm rebuild better-sqlite3 --foreground-scripts --loglevel=error >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    log "building better-sqlite3 failed"
    exit 1
fi

# Prove the build loads in Node 22 before anyone relies on it.
"$node22" -e "
  const Database = require('better-sqlite3');
  const db = new Database(':memory:');
  if (db.prepare('select 41 + 1 as n').get().n !== 42) process.exit(1);
" || { log "better-sqlite3 does not load in Node 22"; exit 1; }

cat >"$tmp/.complete" <<EOF
node=node_modules/node-linux-$arch/bin/node
installed_in_seconds=$((SECONDS - started))
EOF
# mktemp made it 0700; a shared CHORUS_CACHE may serve other users.
chmod 0755 "$tmp"

# rename(2) is atomic: either we put the folder in place, or another run already did.
if mv -T "$tmp" "$final" 2>/dev/null; then
    trap - EXIT
    log "installed in $((SECONDS - started))s: $final"
elif [[ -f "$final/.complete" ]]; then
    log "another run installed it first; using $final"
else
    log "could not move $tmp to $final"
    exit 1
fi
echo "$final"
