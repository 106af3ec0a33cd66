#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The documentation and licence as a user meets them: a short README whose links resolve,
# docs that speak only of the product, the licence text, and an SPDX line in every source.
set -u
: "${EXFLOW:=./exflow}"
export LC_ALL=C
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

n=$(wc -l <README.md)
[ "$n" -le 250 ] && ok "README.md: $n lines (at most 250)" || fail "README.md: $n lines, more than 250"

missing=""
for link in $(grep -o -E '\]\([^)#]+' README.md docs/*.md | sed 's/.*](//' | grep -v -E '^(https?|mailto):' | sort -u); do
    [ -e "$link" ] || [ -e "docs/$link" ] || missing="$missing $link"
done
[ -z "$missing" ] && ok "links: every relative link resolves" || fail "links: missing$missing"

# The product speaks of itself, not of where it was developed.
"$EXFLOW" --dump-man >"${TMPDIR:-/tmp}/exflow-docs-man.$$" 2>/dev/null
hits=$(grep -n -i -E 'this (machine|session)|session before|device machine|development machine|build machine|lab notes?|not drawn|[0-9]+ cores here' \
    README.md docs/*.md "${TMPDIR:-/tmp}/exflow-docs-man.$$" 2>/dev/null | head -n 5)
rm -f "${TMPDIR:-/tmp}/exflow-docs-man.$$"
[ -z "$hits" ] && ok "docs: no words about the development environment" || { fail "docs: development environment mentioned"; echo "$hits"; }

if [ -f /usr/share/common-licenses/GPL-3 ]; then
    cmp -s LICENSE /usr/share/common-licenses/GPL-3 && ok "LICENSE: the GPL-3 text" || fail "LICENSE: not the GPL-3 text"
else
    grep -q 'GNU GENERAL PUBLIC LICENSE' LICENSE 2>/dev/null && ok "LICENSE: present" || fail "LICENSE: missing"
fi

# Every C, shell and Python source carries its licence in an SPDX line near its top.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files '*.c' '*.h' '*.sh' '*.py')
else
    files=$(find . -path ./build -prune -o -type f \( -name '*.[ch]' -o -name '*.sh' -o -name '*.py' \) -print)
fi
count=0; without=""
for f in $files; do
    [ -f "$f" ] || continue
    count=$((count + 1))
    head -n 3 "$f" | grep -q 'SPDX-License-Identifier: GPL-3.0-or-later' || without="$without $f"
done
[ -z "$without" ] && ok "spdx: all $count .c/.h/.sh/.py files" || fail "spdx: missing in$without"

echo "docs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
