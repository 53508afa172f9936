#!/usr/bin/env bash
# Installs the Wireshark configuration profile "SMTP" (profile/SMTP: columns,
# colouring rules, display filter buttons, I/O graph) for the current user.
#
#   scripts/install-profile.sh [--name NAME] [--dir CONFIGDIR] [--uninstall]
#
# Destination: CONFIGDIR/profiles/NAME, where CONFIGDIR is $WIRESHARK_CONFIG_DIR
# if set, else ${XDG_CONFIG_HOME:-~/.config}/wireshark (what Wireshark reads on
# Linux and other Unix systems). NAME defaults to SMTP. Then pick it in
# Wireshark (Edit > Configuration Profiles, or click "Profile:" in the status
# bar), or run `wireshark -C SMTP` / `tshark -C SMTP`.
#
# It never deletes, moves or rewrites a file it did not write itself. It
# records what it wrote (with SHA-256 sums) in NAME/.smtp-profile-installed:
#   - a file that is missing is written;
#   - a file that is already identical is left alone;
#   - a file it wrote earlier and nobody changed since is updated;
#   - any other existing file (yours, or one Wireshark rewrote when you changed
#     a setting) is kept as it is and reported; install the shipped version
#     beside it with --name SMTP-new, or remove your copy first.
# --uninstall removes only the files it wrote that are still unchanged (and
# the folder, when nothing else is left in it).
# Exit status: 0 done, 1 some files were kept (see the messages), 2 error.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$SCRIPT_DIR/../profile/SMTP
die() { echo "install-profile: $*" >&2; exit 2; }

NAME=SMTP
CONF=${WIRESHARK_CONFIG_DIR:-${XDG_CONFIG_HOME:-${HOME:?HOME is not set}/.config}/wireshark}
UNINSTALL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --name) [ $# -ge 2 ] || die "--name needs a value"; NAME=$2; shift 2 ;;
        --dir) [ $# -ge 2 ] || die "--dir needs a value"; CONF=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
case "$NAME" in ''|*/*|.|..) die "bad profile name '$NAME'" ;; esac
[ -d "$SRC" ] || die "no profile in $SRC"
DEST=$CONF/profiles/$NAME
STAMP=$DEST/.smtp-profile-installed
FILES=(preferences colorfilters dfilter_buttons io_graphs)

sum() { sha256sum "$1" | cut -d' ' -f1; }
recorded() {  # FILE -> the sum recorded when this script wrote it, or nothing
    [ -f "$STAMP" ] || return 0
    awk -v f="$1" '$2 == f { print $1 }' "$STAMP"
}

if [ $UNINSTALL -eq 1 ]; then
    [ -d "$DEST" ] || { echo "install-profile: nothing installed in $DEST"; exit 0; }
    kept=0
    for f in "${FILES[@]}"; do
        [ -e "$DEST/$f" ] || continue
        r=$(recorded "$f")
        if [ -n "$r" ] && [ "$(sum "$DEST/$f")" = "$r" ]; then
            rm -f "$DEST/$f"; echo "removed $DEST/$f"
        else
            echo "kept $DEST/$f (not written by this script, or changed since)"; kept=1
        fi
    done
    rm -f "$STAMP"
    rmdir "$DEST" 2>/dev/null && echo "removed $DEST" || echo "kept $DEST (other files in it)"
    exit $kept
fi

mkdir -p "$DEST"
new_stamp=$(mktemp "$DEST/.smtp-profile-installed.XXXXXX")
kept=0
for f in "${FILES[@]}"; do
    want=$(sum "$SRC/$f")
    if [ -e "$DEST/$f" ] || [ -L "$DEST/$f" ]; then
        have=$(sum "$DEST/$f" 2>/dev/null || echo none)
        r=$(recorded "$f")
        if [ "$have" = "$want" ]; then
            if [ -n "$r" ]; then echo "$want $f" >>"$new_stamp"; fi
            echo "up to date: $DEST/$f"
            continue
        elif [ -z "$r" ] || [ "$have" != "$r" ]; then
            echo "KEPT $DEST/$f: it differs from the shipped one and was not written by this script (or was changed since)" >&2
            kept=1
            continue
        fi
    fi
    tmp=$(mktemp "$DEST/.$f.XXXXXX")
    cp "$SRC/$f" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$DEST/$f"
    echo "$want $f" >>"$new_stamp"
    echo "installed: $DEST/$f"
done
chmod 0644 "$new_stamp"
mv -f "$new_stamp" "$STAMP"
if [ $kept -eq 1 ]; then
    echo "install-profile: some files were kept as they were (above); the shipped profile can go beside them: $0 --name SMTP-new" >&2
    exit 1
fi
echo "Profile \"$NAME\" installed in $DEST: choose it in Wireshark (Edit > Configuration Profiles) or run wireshark -C $NAME"
