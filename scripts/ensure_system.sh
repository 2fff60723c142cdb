#!/usr/bin/env bash
# Installs the system packages phananh needs, with apt, only when they are missing.
#   scripts/ensure_system.sh          PostgreSQL 15 server + PostGIS 3, Node.js and npm (to build
#                                     the map page; for `make run`)
#   scripts/ensure_system.sh --test   the same plus GDAL's command-line tools and Chromium (tests)
set -euo pipefail

packages=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
   || ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  packages+=(postgresql-15 postgresql-15-postgis-3)
fi
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if [[ "${1:-}" == "--test" ]]; then
  command -v ogrinfo >/dev/null 2>&1 || packages+=(gdal-bin)
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
fi

if [[ ${#packages[@]} -gt 0 ]]; then
  echo "Installing system packages: ${packages[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# Vite 7 (the map page's build) needs Node.js 20.19 or newer; Debian 12's own nodejs is 18.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "Node.js $(node --version) is too old to build the map page: install Node.js 20.19+" \
       "(e.g. Debian's backports or NodeSource) and run make again." >&2
  exit 1
fi
