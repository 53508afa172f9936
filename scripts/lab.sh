# shellcheck shell=bash
# The loopback lab both capture recorders work in (record-captures.sh and
# record-auth-lmtp.sh source this file; it is not run on its own).
#
# What it sets: REPO, OUT (the recorder's first argument, default
# testdata/real), CLIENT (scripts/smtp_raw_client.py), PY, START, and an EXIT
# trap (lab_cleanup).  What it gives:
#   log TEXT                    "== TEXT"
#   lab_packages PKG:PATH ...   installs the packages whose PATH is missing
#   lab_users USER ...          local users (when missing) and their mailboxes in WORK/mail
#   lab_ports PORT ...          exits when something listens on a port
#   lab_workdir NAME            WORK: a fresh folder /tmp/NAME.XXXXXX
#   lab_start_capture NAME FILTER / lab_stop_capture NAME
#                               tcpdump on lo into WORK/out/NAME.pcap
#   lab_install NAME ...        copies WORK/out/NAME.* into OUT
# A recorder defines lab_stop_servers (stops its servers; called on exit).
#
# What it touches outside WORK: packages it installs (with a policy-rc.d of
# its own while apt-get runs, only where there is none, so that no service
# starts), system users alice, bob, carol (their mail goes to mailboxes in
# WORK/mail: Postfix's mail_spool_directory, never /var/mail)
# (created when missing; an existing mailbox is neither emptied nor chowned),
# and in OUT the files named after its own captures.  Nothing else is
# deleted, moved or rewritten.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (sudo $0)" >&2
    exit 1
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/testdata/real}
# shellcheck disable=SC2034  # CLIENT, PY and START: for the recorders
CLIENT=$REPO/scripts/smtp_raw_client.py
# shellcheck disable=SC2034
PY=/usr/bin/python3
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
# shellcheck disable=SC2034
START=$(date +%s)
WORK=
TCPDUMP_PID=
LAB_POLICY=          # set while /usr/sbin/policy-rc.d is ours
LAB_KEEP=            # set: WORK is left in place at exit (failed outputs)
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_TEXT=$'#!/bin/sh\n# written by scripts/lab.sh while apt-get runs\nexit 101'

log() { echo "== $*"; }

# lab_packages PKG:PATH ...: apt-get install of every PKG whose PATH is
# missing.  Debian's maintainer scripts would start the system's postfix or
# dovecot; a policy-rc.d forbids that while apt-get runs (written only where
# there is none, removed only when it is still the one written here).
lab_packages() {
    local need=() pair
    for pair in "$@"; do
        [ -e "${pair#*:}" ] || need+=("${pair%%:*}")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    log "installing ${need[*]}"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    if [ ! -e "$POLICY_RC" ] && [ ! -L "$POLICY_RC" ] &&
       (set -C; printf '%s\n' "$POLICY_TEXT" > "$POLICY_RC") 2>/dev/null; then
        LAB_POLICY=1
        chmod 755 "$POLICY_RC"
    fi
    apt-get install -y --no-install-recommends "${need[@]}" ||
        { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }
    lab_policy_remove
    if [ -d /run/systemd/system ] && [[ " ${need[*]} " == *" dovecot-core "* ]]; then
        systemctl disable --now dovecot.service dovecot.socket 2>/dev/null || true
    fi
}

lab_policy_remove() {
    if [ -n "$LAB_POLICY" ]; then
        if [ "$(cat "$POLICY_RC" 2>/dev/null)" = "$POLICY_TEXT" ]; then
            rm -f "$POLICY_RC"
        fi
        LAB_POLICY=
    fi
}

# lab_users USER ...: system users without login shell, created when
# missing, and the mailbox local(8) delivers to in the lab's own spool
# (LAB_MAIL_DIR = WORK/mail, mode 1777; the recorders' Postfix has
# mail_spool_directory = LAB_MAIL_DIR): the test mail never reaches a real
# mailbox of a user who exists already.  Call after lab_workdir.
lab_users() {
    local u mbox
    for u in "$@"; do
        id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
                                            --shell /usr/sbin/nologin "$u"
        mbox=$LAB_MAIL_DIR/$u
        : > "$mbox"
        chown "$u:mail" "$mbox"
        chmod 600 "$mbox"
    done
}

# lab_ports PORT ...: exits when a TCP port is already listened on.
lab_ports() {
    local p
    for p in "$@"; do
        if ss -Hltn "sport = :$p" | grep -q .; then
            echo "port $p is already in use; stop the other server first" >&2
            ss -ltnp "sport = :$p" >&2
            exit 1
        fi
    done
}

# lab_workdir NAME: WORK, a fresh folder readable by the servers, with
# WORK/pcap (tcpdump's files) and WORK/out (the outputs until lab_install).
lab_workdir() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$WORK"
    mkdir -p "$WORK/pcap" "$WORK/out"
    LAB_MAIL_DIR=$WORK/mail
    install -d -m 1777 "$LAB_MAIL_DIR"
}

# lab_start_capture NAME FILTER: tcpdump on lo, returns once it listens.
# --immediate-mode: without it libpcap hands packets over in blocks that are
# only closed every second, and packets of the last block before the SIGINT
# are lost (22-auth-failures, where Dovecot's auth penalty delays replies by
# seconds and the rest of the session follows within a few milliseconds,
# lost its whole tail that way).
lab_start_capture() {
    CAP=$WORK/pcap/$1.pcap
    : > "$WORK/tcpdump.err"
    tcpdump -i lo --immediate-mode -U -s 0 -Z root -w "$CAP" "$2" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$WORK/tcpdump.err" && break
        kill -0 "$TCPDUMP_PID" || { cat "$WORK/tcpdump.err" >&2; exit 1; }
        sleep 0.05
    done
    sleep 0.3
}

# lab_stop_capture NAME: stops tcpdump; the capture goes to WORK/out/NAME.pcap.
lab_stop_capture() {
    sleep 0.7                   # let the last FIN/ACKs pass
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    cp "$CAP" "$WORK/out/$1.pcap"
}

# lab_install NAME ...: copies WORK/out/NAME.pcap, .transcript and .keys
# (those there are) into OUT, replacing the files of the same names there.
lab_install() {
    local b f
    mkdir -p "$OUT"
    for b in "$@"; do
        for f in "$WORK/out/$b".*; do
            [ -e "$f" ] || continue
            cp "$f" "$OUT/"
        done
    done
}

# shellcheck disable=SC2317  # called by the EXIT trap
lab_cleanup() {
    local rc=$?
    # a failed run keeps its folder (logs, transcripts, captures) for a look
    [ "$rc" = 0 ] || LAB_KEEP=1
    if [ -n "$TCPDUMP_PID" ]; then
        kill -INT "$TCPDUMP_PID" 2>/dev/null || true
        wait "$TCPDUMP_PID" 2>/dev/null || true
    fi
    if declare -F lab_stop_servers >/dev/null; then lab_stop_servers || true; fi
    lab_policy_remove
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ -n "$LAB_KEEP" ]; then
            echo "kept $WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
}
trap lab_cleanup EXIT
