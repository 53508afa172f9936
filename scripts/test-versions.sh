#!/usr/bin/env bash
# Build the plugin and run its end-to-end tests against other Wireshark
# releases, each in its own chroot (run as root; Debian host with debootstrap).
#
#   scripts/test-versions.sh [--setup-only] [--package DIR] [4.0] [4.2] [4.4] [4.6]
#
# With no version, 4.2, 4.4 and 4.6 are done (with --package: all four).
# For each version X.Y:
#   - create the chroot $WS_CHROOT_BASE/X.Y if it is missing (idempotent;
#     default base /var/tmp/ws-chroots):
#         4.0 = Debian 12 (bookworm), 4.2 = Ubuntu 24.04 (noble),
#         4.4 = Debian 13 (trixie),   4.6 = Debian sid
#   - copy the work tree (tracked files + untracked, not ignored; or the last
#     commit with WS_SOURCE=head) into
#     X.Y/src/smtp-plugin (a fresh copy each run, so no stale build/)
#   - inside the chroot, as root (as CI runs on the host):
#         cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTP_WERROR=ON
#         cmake --build build -j2
#         tests/run-e2e.sh build          (skipped, with a note, if missing)
# A summary line per version is printed at the end; the exit status is
# non-zero if any version failed to set up, build or pass its tests.
#
# --setup-only     only create the chroots (no copy, build or tests).
# --package DIR    build the .deb instead (cpack -G DEB, unit tests not built),
#                  install it in the chroot with dpkg, check that tshark loads
#                  it from the system plugin folder and that the global profile
#                  "SMTP" is there, run tests/run-e2e.sh against the installed
#                  plugin (a copy of the file the package installed), remove
#                  the package again and copy the .deb to DIR (created if
#                  missing). scripts/package.sh wraps this and runs lintian.
#
# Environment:
#   WS_CHROOT_BASE   where the chroots live        (default /var/tmp/ws-chroots)
#   WS_DEBIAN_MIRROR Debian mirror   (default: first deb.debian.org-like URI of
#                    /etc/apt/sources.list*, else http://deb.debian.org/debian)
#   WS_UBUNTU_MIRROR Ubuntu archive  (default http://archive.ubuntu.com/ubuntu)
#   WS_TEST_USER     run build and tests as this chroot user instead of root
#                    (e.g. nobody; HOME is then /tmp/h)
#   WS_SOURCE        worktree (default): the work tree as it is, uncommitted
#                    changes included; head: the last commit (git archive HEAD)
#   WS_E2E_K         with --package: only the end-to-end tests whose names
#                    contain one of these words (e.g. "test_gui test_profile")
#   WS_PASS_ENV      names of host variables to pass into the chroot (the
#                    build and tests otherwise get a clean environment)
#
# Inside the chroot the tests see WS_TEST_VERSION=X.Y and WS_IN_CHROOT=1.
# tshark and Wireshark ignore WIRESHARK_PLUGIN_DIR and personal plugin folders
# when started as root; the user 'nobody' (uid 65534) exists in every chroot
# for running tshark unprivileged, e.g.
#   setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp/h \
#       WIRESHARK_PLUGIN_DIR=DIR tshark ...     (DIR/X.Y/epan/smtp.so)
set -euo pipefail

die() { echo "test-versions: $*" >&2; exit 2; }
note() { echo "test-versions: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mount)"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR/.." rev-parse --show-toplevel 2>/dev/null) ||
    REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BASE=${WS_CHROOT_BASE:-/var/tmp/ws-chroots}
PACKAGES="cmake gcc libc6-dev make pkg-config libglib2.0-dev libwireshark-dev wireshark-dev tshark python3 util-linux gnuplot-nox parallel dpkg-dev file"
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

default_debian_mirror() {
    local uri
    uri=$(grep -rhoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
          grep -oE 'https?://[^[:space:]]+' | grep -v -- '-security' | head -n1) || true
    echo "${uri:-http://deb.debian.org/debian}"
}
DEBIAN_MIRROR=${WS_DEBIAN_MIRROR:-$(default_debian_mirror)}
DEBIAN_MIRROR=${DEBIAN_MIRROR%/}
UBUNTU_MIRROR=${WS_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}
UBUNTU_MIRROR=${UBUNTU_MIRROR%/}

# ---------------------------------------------------------------- mounts ---
MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        if mountpoint -q "${MOUNTS[i]}"; then
            umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" || true
        fi
    done
    MOUNTS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

mount_proc() {   # DIR
    local p="$1/proc"
    mkdir -p "$p"
    if ! mountpoint -q "$p"; then
        mount -t proc proc "$p"
        MOUNTS+=("$p")
    fi
}
umount_proc() {  # DIR
    local p="$1/proc" keep=() m
    if mountpoint -q "$p"; then umount "$p" 2>/dev/null || umount -l "$p"; fi
    for m in "${MOUNTS[@]}"; do [ "$m" = "$p" ] || keep+=("$m"); done
    MOUNTS=("${keep[@]}")
}

# --------------------------------------------------------------- chroots ---
suite_for() {
    case "$1" in
        4.0) echo bookworm ;;
        4.2) echo noble ;;
        4.4) echo trixie ;;
        4.6) echo sid ;;
        *) return 1 ;;
    esac
}

# Ubuntu's archive keyring, taken from Debian's own ubuntu-keyring package.
ubuntu_keyring() {
    local kr=/usr/share/keyrings/ubuntu-archive-keyring.gpg
    if [ -s "$kr" ]; then echo "$kr"; return; fi
    kr=$BASE/.keyrings/ubuntu-archive-keyring.gpg
    if [ -s "$kr" ]; then echo "$kr"; return; fi
    local t
    t=$(mktemp -d)
    mkdir -p "$t/lists/partial" "$t/cache/archives/partial" "$BASE/.keyrings"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR trixie main" \
        >"$t/sources.list"
    local o=(-o "Dir::Etc::SourceList=$t/sources.list" -o Dir::Etc::SourceParts=/nonexistent
             -o "Dir::State::Lists=$t/lists" -o "Dir::Cache=$t/cache" -o APT::Sandbox::User=root)
    apt-get -q "${o[@]}" update >&2
    (cd "$t" && apt-get -q "${o[@]}" download ubuntu-keyring >&2)
    dpkg-deb -x "$t"/ubuntu-keyring_*.deb "$t/x"
    cp "$t/x/usr/share/keyrings/ubuntu-archive-keyring.gpg" "$kr"
    rm -rf "$t"
    echo "$kr"
}

# Make sure DIR is a complete chroot for version V (idempotent).
ensure_chroot() {  # V
    local v=$1 dir=$BASE/$1 suite
    suite=$(suite_for "$v") || die "unknown version $v (known: 4.0 4.2 4.4 4.6)"
    [ -f "$dir/.ws-chroot-ready" ] && return 0

    note "[$v] creating chroot $dir ($suite)"
    command -v debootstrap >/dev/null ||
        { apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
    mkdir -p "$BASE"
    umount_proc "$dir"

    # A finished debootstrap leaves apt-get and no debootstrap/ work folder.
    if [ ! -x "$dir/usr/bin/apt-get" ] || [ -d "$dir/debootstrap" ]; then
        rm -rf --one-file-system "$dir"
        local args=(--variant=minbase)
        if [ "$suite" = noble ]; then
            args+=(--keyring="$(ubuntu_keyring)" noble "$dir" "$UBUNTU_MIRROR"
                   /usr/share/debootstrap/scripts/gutsy)
        else
            args+=("$suite" "$dir" "$DEBIAN_MIRROR")
        fi
        debootstrap "${args[@]}"
    fi

    if [ "$suite" = noble ]; then
        # wireshark is in universe; take the stable release's updates too.
        cat >"$dir/etc/apt/sources.list" <<EOF
deb $UBUNTU_MIRROR noble main universe
deb $UBUNTU_MIRROR noble-updates main universe
deb $UBUNTU_MIRROR noble-security main universe
EOF
    fi
    if [ "$suite" = sid ]; then
        # sid's Release file on the mirror may be past its Valid-Until date.
        echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99no-check-valid-until"
    fi
    cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true

    mount_proc "$dir"
    chroot "$dir" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root DEBIAN_FRONTEND=noninteractive \
        sh -c "apt-get -q update && apt-get install -y -q --no-install-recommends $PACKAGES"
    umount_proc "$dir"

    chroot "$dir" getent passwd nobody >/dev/null ||
        chroot "$dir" /usr/sbin/useradd -u 65534 -g 65534 -d /nonexistent -s /usr/sbin/nologin nobody
    mkdir -p "$dir/tmp" && chmod 1777 "$dir/tmp"

    local ver got
    ver=$(chroot "$dir" dpkg-query -W -f='${Version}' libwireshark-dev)
    got=$(chroot "$dir" dpkg-query -W -f='${Version}' tshark)
    case "$ver" in
        "$v".*) ;;
        *) die "[$v] $suite ships Wireshark $ver, not $v.x: pick another suite" ;;
    esac
    printf 'suite=%s\nlibwireshark-dev=%s\ntshark=%s\n' "$suite" "$ver" "$got" >"$dir/.ws-version"
    touch "$dir/.ws-chroot-ready"
    note "[$v] chroot ready: Wireshark $ver"
}

# ---------------------------------------------------------- copy + build ---
copy_tree() {  # DEST
    local dest=$1
    rm -rf --one-file-system "$dest"
    mkdir -p "$dest"
    if [ "${WS_SOURCE:-worktree}" = head ]; then
        git -C "$REPO" archive --format=tar HEAD | tar -xf - -C "$dest"
        return
    fi
    # tracked files (those still present) + untracked files not ignored
    (cd "$REPO" &&
        git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done | sort -zu | tar --null --no-recursion -T - -cf -) |
        tar -xf - -C "$dest"
}

run_version() {  # V -> sets RESULT
    local v=$1 dir=$BASE/$1 src=/src/smtp-plugin
    RESULT="FAILED (chroot setup)"
    ( trap cleanup EXIT; ensure_chroot "$v" ) || return 1

    RESULT="FAILED (copy)"
    copy_tree "$dir$src" || return 1

    if [ -n "$PACKAGE_DIR" ]; then
        package_version "$v"
        return
    fi

    local user=${WS_TEST_USER:-root} home=/root
    local priv=()
    if [ "$user" != root ]; then
        local uid gid
        uid=$(chroot "$dir" id -u "$user") && gid=$(chroot "$dir" id -g "$user") ||
            { RESULT="FAILED (no user $user)"; return 1; }
        home=/tmp/h
        mkdir -p "$dir$home" && chown "$uid:$gid" "$dir$home"
        chown -R "$uid:$gid" "$dir$src"
        priv=(setpriv --reuid="$uid" --regid="$gid" --clear-groups)
    fi
    # no valgrind in the chroots: the valgrind e2e test runs on the host
    local inenv=(/usr/bin/env -i PATH="$CHROOT_PATH" HOME="$home" LANG=C.UTF-8
                 WS_TEST_VERSION="$v" WS_IN_CHROOT=1 SMTP_E2E_FAST=1)
    local name
    for name in ${WS_PASS_ENV:-}; do
        if [ -n "${!name+set}" ]; then inenv+=("$name=${!name}"); fi
    done

    mount_proc "$dir"
    local rc=0
    echo "=== [$v] Wireshark $(sed -n 's/^libwireshark-dev=//p' "$dir/.ws-version"): build"
    chroot "$dir" "${priv[@]}" "${inenv[@]}" sh -c \
        "cd $src && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTP_WERROR=ON && cmake --build build -j2" ||
        rc=$?
    if [ $rc -ne 0 ]; then
        umount_proc "$dir"
        RESULT="FAILED (build)"
        return 1
    fi
    if [ ! -f "$dir$src/tests/run-e2e.sh" ]; then
        umount_proc "$dir"
        echo "=== [$v] NOTE: tests/run-e2e.sh does not exist (yet): built only, no tests run"
        RESULT="built; no tests (tests/run-e2e.sh missing)"
        return 0
    fi
    echo "=== [$v] tests: tests/run-e2e.sh build"
    chroot "$dir" "${priv[@]}" "${inenv[@]}" sh -c \
        "cd $src && if [ -x tests/run-e2e.sh ]; then ./tests/run-e2e.sh build; else bash tests/run-e2e.sh build; fi" ||
        rc=$?
    umount_proc "$dir"
    if [ $rc -ne 0 ]; then
        RESULT="FAILED (tests, exit $rc)"
        return 1
    fi
    RESULT="built; tests passed"
    return 0
}

# --------------------------------------------------------------- package ---
# Build the .deb of version V in its chroot (tree already copied), install
# it, test the installed plugin, remove it, copy the .deb to PACKAGE_DIR.
package_version() {  # V -> sets RESULT
    local v=$1 dir=$BASE/$1 src=/src/smtp-plugin
    local inenv=(/usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8
                 WS_TEST_VERSION="$v" WS_IN_CHROOT=1 SMTP_E2E_FAST=1 DEBIAN_FRONTEND=noninteractive)
    local name
    for name in ${WS_PASS_ENV:-}; do
        if [ -n "${!name+set}" ]; then inenv+=("$name=${!name}"); fi
    done
    mount_proc "$dir"
    local rc=0
    echo "=== [$v] Wireshark $(sed -n 's/^libwireshark-dev=//p' "$dir/.ws-version"): build the .deb"
    # dpkg-shlibdeps and the DEB generator need dpkg-dev and file
    chroot "$dir" "${inenv[@]}" sh -c "dpkg-query -W dpkg-dev file >/dev/null 2>&1 ||
            { apt-get -q update && apt-get install -y -q --no-install-recommends dpkg-dev file; }" &&
    # Debian's hardening flags, as a Debian package build would use them
    chroot "$dir" "${inenv[@]}" DEB_BUILD_MAINT_OPTIONS=hardening=+all sh -c \
        "cd $src && rm -rf build-deb &&
         CFLAGS=\"\$(dpkg-buildflags --get CFLAGS) \$(dpkg-buildflags --get CPPFLAGS)\" LDFLAGS=\"\$(dpkg-buildflags --get LDFLAGS)\" \
         cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTP_WERROR=ON -DSMTP_BUILD_TESTS=OFF &&
         cmake --build build-deb -j2 && cd build-deb && cpack -G DEB" ||
        rc=$?
    local debs=("$dir$src"/build-deb/deb/*.deb)
    if [ $rc -ne 0 ] || [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
        umount_proc "$dir"; RESULT="FAILED (package build)"; return 1
    fi
    local deb=${debs[0]} base pkg
    base=$(basename "$deb")
    pkg=$(dpkg-deb -f "$deb" Package)
    echo "=== [$v] $base: Depends: $(dpkg-deb -f "$deb" Depends)"
    cp "$deb" "$dir/tmp/$base"
    echo "=== [$v] install it (dpkg -i) and test the installed plugin"
    chroot "$dir" "${inenv[@]}" sh -c "dpkg -i /tmp/$base" || rc=$?
    if [ $rc -ne 0 ]; then
        umount_proc "$dir"; RESULT="FAILED (dpkg -i)"; return 1
    fi
    # tshark without WIRESHARK_PLUGIN_DIR, as nobody, loads it from the system
    # folder; the global profile is there; e2e against a copy of that file
    chroot "$dir" "${inenv[@]}" sh -c "
        set -e
        so=\$(dpkg -L $pkg | grep '/plugins/$v/epan/smtp-analysis.so\$')
        echo \"installed: \$so\"
        mkdir -p /tmp/h && chmod 1777 /tmp/h
        setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=$CHROOT_PATH HOME=/tmp/h \
            tshark -G plugins | grep -F \"\$so\"
        test -f /usr/share/wireshark/profiles/SMTP/preferences
        cp $src/testdata/real/02-unknown-user.pcap /tmp/h/p.pcap && chmod 644 /tmp/h/p.pcap
        n=\$(setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=$CHROOT_PATH HOME=/tmp/h \
            tshark -C SMTP -r /tmp/h/p.pcap -Y 'smtp.reply.code >= 500' -T fields -e smtp.reply.code)
        test \"\$n\" = 550
        echo 'global profile /usr/share/wireshark/profiles/SMTP: tshark -C SMTP finds the 550 of 02-unknown-user'
        cd $src && rm -rf build-installed && mkdir -p build-installed/plugins/$v/epan
        cp \"\$so\" build-installed/plugins/$v/epan/
        if [ -z '${WS_E2E_K:-}' ]; then tests/run-e2e.sh build-installed; else
            st=0; for k in ${WS_E2E_K:-}; do tests/run-e2e.sh build-installed -k \$k || st=1; done; exit \$st; fi" || rc=$?
    chroot "$dir" "${inenv[@]}" sh -c "dpkg -r $pkg" >/dev/null || true
    umount_proc "$dir"
    mkdir -p "$PACKAGE_DIR"
    cp "$deb" "$PACKAGE_DIR/"
    if [ $rc -ne 0 ]; then
        RESULT="FAILED (tests of the installed package, exit $rc): $PACKAGE_DIR/$base"
        return 1
    fi
    RESULT="package built, installed, tests passed: $PACKAGE_DIR/$base"
    return 0
}

# ------------------------------------------------------------------ main ---
SETUP_ONLY=0
PACKAGE_DIR=
VERSIONS=()
while [ $# -gt 0 ]; do
    a=$1; shift
    case "$a" in
        --setup-only) SETUP_ONLY=1 ;;
        --package)
            [ $# -gt 0 ] || die "--package needs a folder"
            PACKAGE_DIR=$1; shift
            mkdir -p "$PACKAGE_DIR"; PACKAGE_DIR=$(cd "$PACKAGE_DIR" && pwd) ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        4.0|4.2|4.4|4.6) VERSIONS+=("$a") ;;
        *) die "unknown argument '$a' (usage: $0 [--setup-only] [--package DIR] [4.0 4.2 4.4 4.6])" ;;
    esac
done
if [ ${#VERSIONS[@]} -eq 0 ]; then
    if [ -n "$PACKAGE_DIR" ]; then VERSIONS=(4.0 4.2 4.4 4.6); else VERSIONS=(4.2 4.4 4.6); fi
fi

SUMMARY=()
FAILED=0
for v in "${VERSIONS[@]}"; do
    if [ $SETUP_ONLY -eq 1 ]; then
        if ( trap cleanup EXIT; ensure_chroot "$v" ); then
            RESULT="chroot ready: $(tr '\n' ' ' <"$BASE/$v/.ws-version")"
        else
            RESULT="FAILED (chroot setup)"; FAILED=1
        fi
    else
        run_version "$v" || FAILED=1
    fi
    SUMMARY+=("$(printf '%-4s %s' "$v" "$RESULT")")
done

echo
echo "=== summary (chroots in $BASE)"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
