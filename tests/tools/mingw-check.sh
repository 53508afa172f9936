#!/bin/sh
# Cross-compiles the engine (src/*.c) for Windows with MinGW-w64 and -Werror,
# with the project's warning flags: the engine must stay free of Linux-only
# calls and headers. It also links a small program that uses every object
# (so a missing function shows up as a link error).
#
#   tests/tools/mingw-check.sh [OUTDIR]      (Debian: apt-get install gcc-mingw-w64-x86-64)
#
# CC defaults to x86_64-w64-mingw32-gcc. Exit status 0 when everything built.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cc=${MINGW_CC:-x86_64-w64-mingw32-gcc}
command -v "$cc" >/dev/null 2>&1 || { echo "mingw-check: $cc not found (apt-get install gcc-mingw-w64-x86-64)" >&2; exit 2; }
out=${1:-}
if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/smtp-mingw.XXXXXX")
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
# the flags of CMakeLists.txt's SMTP_WARNINGS (and -Wconversion, as the engine)
flags="-std=c11 -O2 -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes
 -Wmissing-prototypes -Wno-unused-parameter -Werror=incompatible-pointer-types
 -Werror=implicit-function-declaration -Werror=int-conversion -Wconversion -Werror
 -pedantic -I$top/src"
objs=""
for c in "$top"/src/*.c; do
    o=$out/$(basename "$c" .c).o
    # shellcheck disable=SC2086
    "$cc" $flags -c "$c" -o "$o"
    objs="$objs $o"
done
# a program with every object linked in (their undefined references must resolve)
cat >"$out/main.c" <<'C'
#include "smtp.h"
int main(void) { return 0; }
C
# shellcheck disable=SC2086
"$cc" $flags "$out/main.c" $objs -o "$out/engine.exe"
echo "mingw-check: $($cc --version | head -n1): $(echo $objs | wc -w) files of src/ built with -Werror; linked $(basename "$out/engine.exe")"
