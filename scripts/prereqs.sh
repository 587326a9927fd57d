#!/usr/bin/env bash
# The one prerequisite step of `npm start` and `npm test`: the Debian packages hypha's lab and tests use.
# As root it installs what is missing; otherwise it stops at once with the exact command to run.
set -euo pipefail

# curl and ssh talk to the lab, iproute2 builds its network namespaces, chromium runs the status
# page's browser test, jq reads JSON in the README's walkthrough, postgresql backs the store's tests.
packages=(${HYPHA_PREREQ_PACKAGES:-curl openssh-client iproute2 chromium ca-certificates jq postgresql})

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "hypha needs Node 20 or newer; this is Node $(node -v)." >&2
  exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  # Not Debian: check the commands instead of the packages, and say which are missing.
  missing_cmds=()
  for c in curl ssh ip chromium jq; do command -v "$c" >/dev/null 2>&1 || missing_cmds+=("$c"); done
  if [ ${#missing_cmds[@]} -gt 0 ]; then
    echo "hypha needs these commands, which are not on the PATH: ${missing_cmds[*]}" >&2
    echo "Install them with your system's package manager (on Debian: apt-get install ${packages[*]})." >&2
    exit 1
  fi
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "hypha needs these Debian packages, which are not installed: ${missing[*]}" >&2
  echo "Install them, then run this again:" >&2
  echo "" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "installing the missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
