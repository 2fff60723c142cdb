#!/usr/bin/env bash
# Installs the system packages phananh needs, with apt, only when they are missing.
#   scripts/ensure_system.sh          PostgreSQL 15 server + PostGIS 3 (for `make run`)
#   scripts/ensure_system.sh --test   the same plus GDAL's command-line tools and Chromium (tests)
set -euo pipefail

packages=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
   || ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  packages+=(postgresql-15 postgresql-15-postgis-3)
fi
if [[ "${1:-}" == "--test" ]]; then
  command -v ogrinfo >/dev/null 2>&1 || packages+=(gdal-bin)
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0

echo "Installing system packages: ${packages[*]}"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
