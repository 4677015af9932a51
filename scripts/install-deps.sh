#!/usr/bin/env bash
# Installs the Debian packages that dirbridge's tests, demo and CI need (directory servers: slapd,
# Samba AD, 389-DS; LDAP tools, Chromium), without starting any system service. Does nothing when
# all are present.
#   scripts/install-deps.sh          install what is missing (needs root)
#   scripts/install-deps.sh --check  only report what is missing (exit 3 if anything is)
set -euo pipefail

PACKAGES=(slapd ldap-utils openssl samba-ad-dc samba-ad-provision 389-ds-base chromium)

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$package")
done

if (( ${#missing[@]} == 0 )); then
  echo "install-deps: all Debian packages present"
  exit 0
fi
if [[ ${1:-} == --check ]]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  exit 3
fi
if [[ $(id -u) != 0 ]]; then
  echo "install-deps: missing Debian packages: ${missing[*]} (run this script as root to install them)" >&2
  exit 3
fi

# Package scripts must not start slapd, Samba or 389-DS: they would take ports 389/636 that the tests use.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if (( created_policy )); then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update -qq < /dev/null
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${PACKAGES[@]}" < /dev/null
echo "install-deps: done"
