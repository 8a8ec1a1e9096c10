package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// printable makes a user-given string (a plan's or request's name, a label,
// a reason quoting them) safe to print on a terminal: every control
// character is shown as a Go escape instead of acting. That covers C0
// (newlines and tabs too: they would forge lines and columns), DEL, C1,
// the bidirectional overrides that reorder what is shown, and bytes that
// are not UTF-8. An ANSI escape sequence ("\x1b[2J", clear the screen) thus
// prints as its text, ESC escaped: inert, and visible to whoever reads it.
func printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// needsEscape says whether printable has anything to do (the usual case:
// nothing).
func needsEscape(s string) bool {
	for i, r := range s {
		if r < 0x20 || r == 0x7f || isControl(r) || (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) {
			return true
		}
	}
	return false
}

// isControl is C1 and the bidirectional embeddings, overrides and isolates
// (U+202A-U+202E, U+2066-U+2069).
func isControl(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// printableLines is printable for a message whose own line breaks are
// meant (an error listing problems): each line is made printable.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}
