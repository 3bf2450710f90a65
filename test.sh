#!/usr/bin/env bash
# Installs what the tests need beyond the .NET SDK, then runs every test of the solution.
#   ./test.sh                      all tests (Release)
#   ./test.sh --filter DaprFiles   extra arguments go to `dotnet test`
# Tools installed here:
#  - docker-compose (Debian's, v1): `docker-compose config -q` validates tye-free-compose.yml
#    offline. --no-install-recommends keeps the Docker engine out: it is not needed.
#  - wrk (Debian's): the load generator of bench/run.sh, whose smoke mode runs as a test.
#  - eng/k8s-validate's npm packages (kubernetes-models, yaml) for the Kubernetes manifests.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=()
if ! command -v docker-compose >/dev/null 2>&1; then APT_PACKAGES+=(docker-compose); fi
if ! command -v wrk >/dev/null 2>&1; then APT_PACKAGES+=(wrk); fi
if [ "${#APT_PACKAGES[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "test.sh: installing ${APT_PACKAGES[*]} (apt)"
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
fi

if [ ! -d eng/k8s-validate/node_modules ]; then
  echo "test.sh: installing eng/k8s-validate's npm packages"
  if [ -f eng/k8s-validate/package-lock.json ]; then
    npm ci --prefix eng/k8s-validate --no-audit --no-fund
  else
    npm install --prefix eng/k8s-validate --no-audit --no-fund
  fi
fi

dotnet test AiMesh.sln -c Release "$@"
