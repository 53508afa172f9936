#!/bin/sh
# Installs what building and testing the plugin needs, when it is missing
# (Debian/Ubuntu).  Safe to run again.  Needs root (or sudo) only when
# something is actually missing.
set -eu
pkgs="cmake gcc make pkg-config libc6-dev libglib2.0-dev libwireshark-dev wireshark-dev tshark python3 util-linux gnuplot-nox parallel"
[ "${SMTP_WITH_VALGRIND:-1}" = 1 ] && pkgs="$pkgs valgrind"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the answer does not matter here
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing
