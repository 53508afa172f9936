#!/usr/bin/env bash
# Builds the .deb packages of the plugin (with the "SMTP" profile), one per
# Wireshark release, and checks them with lintian.
#
#   sudo scripts/package.sh [-o DIR] [4.0] [4.2] [4.4] [4.6]
#       In chroots (scripts/test-versions.sh --package): 4.0 = Debian 12,
#       4.2 = Ubuntu 24.04, 4.4 = Debian 13, 4.6 = Debian sid; each package
#       is installed in its chroot and the end-to-end tests run against the
#       installed plugin. No version: all four.
#   scripts/package.sh --host [-o DIR]
#       Only for this machine's Wireshark, without chroot or root: build,
#       cpack, lintian, and the end-to-end tests against the plugin file
#       taken out of the .deb (dpkg-deb -x); nothing is installed.
#
# The .deb files go to DIR (default: a new folder build/packages-<UTC time>
# in the source tree), with lintian.txt (lintian's output for each).
# lintian tags that remain are explained in README (Installing).
# Exit status: 0 when every package was built, passed its tests and lintian
# reported no error or warning.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
die() { echo "package: $*" >&2; exit 2; }

OUT=
HOST=0
VERSIONS=()
while [ $# -gt 0 ]; do
    case "$1" in
        -o) [ $# -ge 2 ] || die "-o needs a folder"; OUT=$2; shift 2 ;;
        --host) HOST=1; shift ;;
        4.0|4.2|4.4|4.6) VERSIONS+=("$1"); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
if [ -z "$OUT" ]; then
    OUT=$REPO/build/packages-$(date -u +%Y%m%d-%H%M%S)
    [ -e "$OUT" ] && die "$OUT exists"
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

run_lintian() {  # DEB...  -> appends to OUT/lintian.txt; status 1 on E:/W:
    command -v lintian >/dev/null || {
        echo "package: lintian not installed (apt-get install lintian): not checked" | tee -a "$OUT/lintian.txt"
        return 1; }
    local d bad=0 out
    for d in "$@"; do
        # as root lintian wants --allow-root; it only reads the file
        out=$(lintian --allow-root --info --display-info --display-experimental "$d" 2>&1) || true
        { echo "== $(basename "$d")"; [ -n "$out" ] && echo "$out" || echo "(no tags)"; } | tee -a "$OUT/lintian.txt"
        if grep -qE '^[EW]: ' <<<"$out"; then bad=1; fi
    done
    return $bad
}

status=0
if [ $HOST -eq 1 ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/smtp-package.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    "$REPO/scripts/deps.sh"
    command -v dpkg-shlibdeps >/dev/null || die "dpkg-dev is needed (apt-get install dpkg-dev file)"
    # Debian's hardening flags, as a Debian package build would use them
    export DEB_BUILD_MAINT_OPTIONS=hardening=+all
    CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
    LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
    cmake -S "$REPO" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTP_WERROR=ON \
          -DSMTP_BUILD_TESTS=OFF >/dev/null
    cmake --build "$work/build" -j"$(nproc)"
    (cd "$work/build" && cpack -G DEB)
    deb=$(ls "$work"/build/deb/*.deb)
    echo "package: $(basename "$deb"): Depends: $(dpkg-deb -f "$deb" Depends)"
    dpkg-deb -c "$deb"
    mm=$(cat "$work/build/wireshark-version.txt")
    dpkg-deb -x "$deb" "$work/root"
    so=$(find "$work/root" -path "*/plugins/$mm/epan/smtp-analysis.so")
    [ -n "$so" ] || die "no plugins/$mm/epan/smtp-analysis.so in the package"
    mkdir -p "$work/installed/plugins/$mm/epan"
    cp "$so" "$work/installed/plugins/$mm/epan/"
    "$REPO/tests/run-e2e.sh" "$work/installed" || status=1
    cp "$deb" "$OUT/"
    run_lintian "$OUT/$(basename "$deb")" || status=1
else
    [ "$(id -u)" -eq 0 ] || die "chroots need root (or use --host)"
    "$SCRIPT_DIR/test-versions.sh" --package "$OUT" "${VERSIONS[@]}" || status=1
    shopt -s nullglob
    debs=("$OUT"/*.deb)
    [ ${#debs[@]} -gt 0 ] || die "no package was built"
    run_lintian "${debs[@]}" || status=1
fi
echo "package: packages in $OUT:"
ls -l "$OUT"
exit $status
