#!/bin/sh
# Writes the man page of a Vigil binary from its own --help text (help2roff.awk), so the two
# never disagree. Usage:
#   gen-man.sh BINARY NAME SECTION OUT "one-line summary" [--subcommands]
# With --subcommands (vigilctl), every command its --help lists under "Commands:" gets its own
# --help as a subsection, so a new subcommand is documented without touching this script; a
# command whose --help lists "Kinds:" (vigilctl eval nab|smd) gets each kind's --help too, where
# its options are.
set -eu
bin=$1 name=$2 section=$3 out=$4 summary=$5
shift 5
here=$(dirname "$0")
version=$("$bin" --version | sed 's/^[^ ]* //')
# The build date would make every build's page differ; the version says what it documents.
date=${SOURCE_DATE_EPOCH:+$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)}
date=${date:-$version}
tmp=$out.tmp
{
    "$bin" --help | awk -v name="$name" -v section="$section" -v date="$date" \
        -v version="$version" -v summary="$summary" -v subcmd=0 -f "$here/help2roff.awk"
    if [ "${1:-}" = --subcommands ]; then
        printf '.SH "COMMANDS IN DETAIL"\n'
        for c in $("$bin" --help | awk '/^Commands:/ { f = 1; next } f && /^$/ { f = 0 } f { print $1 }'); do
            "$bin" "$c" --help | awk -v subcmd=1 -f "$here/help2roff.awk"
            for k in $("$bin" "$c" --help | awk '/^Kinds:/ { f = 1; next } f && /^$/ { f = 0 } f && /^  [a-z]/ { print $1 }'); do
                "$bin" "$c" "$k" --help | awk -v subcmd=1 -f "$here/help2roff.awk"
            done
        done
    fi
    printf '.SH SEE ALSO\n'
    case $name in
    vigilctl) printf '.BR vigil-analyzer (8),\n.BR vigil-agent (8)\n' ;;
    vigil-agent) printf '.BR vigil-analyzer (8),\n.BR vigilctl (1)\n' ;;
    *) printf '.BR vigil-agent (8),\n.BR vigilctl (1)\n' ;;
    esac
    printf '.PP\n/usr/share/doc/%s/ holds the configuration reference and the other documents.\n' \
        "$(case $name in vigil-agent) echo vigil-agent ;; *) echo vigil-analyzer ;; esac)"
} >"$tmp"
mv "$tmp" "$out"
