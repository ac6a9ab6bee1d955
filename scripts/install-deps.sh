#!/bin/sh
# install-deps.sh: install the Debian packages that Tern builds, tests and
# runs with (DESIGN.md "Dependencies").  Run as root; with --check, only
# name the packages that are missing and exit 1 if any are.
set -eu

PACKAGES="build-essential pkg-config clang-format clang libclang-rt-14-dev
libssl-dev openssl libevent-dev libunbound-dev unbound-anchor dns-root-data
libcdb-dev tinycdb libdb5.3-dev db5.3-util libcrypt-dev libseccomp-dev
libcriterion-dev python3 python3-pytest python3-pytest-timeout
python3-aiosmtpd python3-dnslib nsd ldnsutils swaks strace iproute2 procps
psmisc"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing Debian packages:$missing" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: not root; please install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing </dev/null
