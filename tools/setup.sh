#!/usr/bin/env bash
# One-command set-up on a fresh Debian machine: installs the build dependencies,
# builds iris and starts it.  Extra arguments are passed to iris.
set -eu
cd "$(dirname "$0")/.."
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(grep -v '^#' tools/debian-packages.txt)
make -j"$(nproc)"
exec bin/iris "$@"
