#!/bin/sh
# Builds the plugin, installs it, and shows it working on a shipped capture.
#
#   scripts/install.sh            as a user: into ~/.local/lib/wireshark/plugins/X.Y/epan
#   sudo scripts/install.sh       as root: system-wide (tshark run as root does not
#                                 read personal plugin folders)
#   scripts/install.sh --no-demo  build and install only
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
"$top/scripts/build.sh" "$build"
mm=$(cat "$build/wireshark-version.txt")
if [ "$(id -u)" -eq 0 ]; then
  dest=$(cat "$build/wireshark-plugin-dir.txt")
else
  dest=$HOME/.local/lib/wireshark/plugins/$mm/epan
fi
mkdir -p "$dest"
install -m 0644 "$build/plugins/$mm/epan/smtp-analysis.so" "$dest/"
echo "Installed $dest/smtp-analysis.so"
[ "${1:-}" = "--no-demo" ] && exit 0

capture=${SMTP_DEMO_CAPTURE:-$top/testdata/real/04-policy-reject-recipient.pcap}
echo
echo "Replies in $(basename "$capture"), with the command each answers, category and meaning:"
echo
tshark -r "$capture" -Y smtp.reply -T tabs \
  -o 'gui.column.format:"No.","%m","Command","%Cus:smtp.reply.command","Code","%Cus:smtp.reply.code:0:U","Status","%Cus:smtp.reply.status","Category","%Cus:smtp.reply.category","Meaning","%Cus:smtp.reply.meaning"' \
  2>/dev/null | awk -F'\t' '
  BEGIN { printf "%5s  %-13s %-4s %-6s %-30s %s\n", "Frame", "Command", "Code", "Status", "Category", "Meaning" }
  { gsub(/^ +/, "", $1); printf "%5s  %-13s %-4s %-6s %-30s %s\n", $1, $2, $3, $4, $5, $6 }'
