# Turns a Vigil binary's --help text into man(7) source, so the man pages say exactly what
# --help says. The --help layout it expects (see vigil-agent --help):
#   Usage: NAME SYNOPSIS            first line
#   paragraphs                      description
#   Heading:                        a line at column 0 ending in ':' starts a section
#   Heading (remark):               the same, the remark becomes the section's first paragraph
#     -x, --opt ARG   text          an item: term, two or more spaces, text
#                     more text     continuation (deeper indent, or a key's help below it)
#   Label: text                     at column 0: a section of its own (Signals:, Exit status:)
# Variables: name, section, date, version (from gen-man.sh); subcmd=1 renders a vigilctl
# subcommand's help as a subsection (.SS) with headings as bold paragraphs.

function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    if (s ~ /^[.']/) s = "\\&" s
    return s
}
function heading(t) {
    if (subcmd) printf ".PP\n.B %s\n", esc(t)
    else printf ".SH %s\n", toupper(esc(t))
}
function indent(s) { match(s, /^ */); return RLENGTH }
function flushpara() { para = 0 }
function text(s) {
    if (!para) { print (initem ? "" : ".PP"); para = 1 }
    print esc(s)
}
BEGIN { para = 0; initem = 0; inpre = 0; desc = "" }
NR == 1 {
    syn = $0; sub(/^Usage: */, "", syn)
    if (subcmd) {
        printf ".SS \"%s\"\n", esc(syn)
    } else {
        cmd = syn; sub(/ .*/, "", cmd); rest = syn; sub(/^[^ ]* ?/, "", rest)
        printf ".TH %s %s \"%s\" \"Vigil %s\" \"Vigil manual\"\n", toupper(name), section, date, version
        printf ".SH NAME\n%s \\- %s\n", esc(name), esc(summary)
        printf ".SH SYNOPSIS\n.B %s\n%s\n.SH DESCRIPTION\n", esc(cmd), esc(rest)
    }
    next
}
/^$/ { flushpara(); initem = 0; blank = 1; next }
# A paragraph's first line only may be a heading: "SIGHUP reads the config again: ..." goes on
# the "Signals: ..." paragraph above it.
{ first = blank; blank = 0 }
# "Heading:" or "Heading (remark):"
/^[A-Z][^:]*:$/ {
    h = $0; sub(/:$/, "", h); remark = ""
    if (match(h, / \(.*\)$/)) { remark = substr(h, RSTART + 2, RLENGTH - 3); h = substr(h, 1, RSTART - 1) }
    heading(h); flushpara(); initem = 0
    if (remark != "") { print ".PP"; print esc(toupper(substr(remark, 1, 1)) substr(remark, 2)) "." }
    next
}
# "Label: text" at column 0, e.g. "Signals: SIGTERM ..."
/^[A-Z][A-Za-z ]*: / && !subcmd && first {
    h = $0; sub(/: .*/, "", h); t = $0; sub(/^[^:]*: /, "", t)
    heading(h); flushpara(); initem = 0; text(t); next
}
# An item: a term at indent 2 (or an option at indent up to 8), two or more spaces, its text.
/^  [^ ]/ || (/^ +-/ && indent($0) <= 8) {
    line = $0; sub(/^ +/, "", line)
    if (match(line, /   *[^ ]/) && RSTART > 1) {
        term = substr(line, 1, RSTART - 1); t = substr(line, RSTART + RLENGTH - 1)
        sub(/ +$/, "", term)
    } else { term = line; t = "" }
    if (inpre) { print ".RE\n.fi"; inpre = 0 }
    gsub(/  +/, " ", t)
    printf ".TP\n.B %s\n", esc(term); initem = 1; para = 1
    if (t != "") print esc(t)
    next
}
# Under an item: at indent up to 8 a new line of it (a config key's help under its type and
# default), deeper the same sentence going on. Elsewhere an indented example: kept as it is.
/^   / {
    t = $0; match(t, /^ +/); ind = RLENGTH; sub(/^ +/, "", t)
    if (initem) { if (ind <= 8) print ".br"; print esc(t) }
    else { if (!inpre) { print ".PP\n.nf\n.RS 4"; inpre = 1 } print esc(t) }
    next
}
{
    if (inpre) { print ".RE\n.fi"; inpre = 0; para = 0 }
    if (initem) { initem = 0; para = 0 }
    text($0)
}
END { if (inpre) print ".RE\n.fi" }
