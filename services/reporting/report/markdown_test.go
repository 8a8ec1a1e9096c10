package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestCellNeutralisesUserText(t *testing.T) {
	tests := []struct {
		in, want, why string
	}{
		{"checkout", "checkout", "plain text stays"},
		{"a|b", `a\|b`, "a pipe would end the table cell"},
		{"a`b`", "a\\`b\\`", "a backtick would open a code span"},
		{"[x](http://e)", `\[x\](http://e)`, "a link"},
		{"![i](http://e)", `!\[i\](http://e)`, "an image"},
		{"*b* _i_ ~s~", `\*b\* \_i\_ \~s\~`, "emphasis and strikethrough"},
		{"a\nb\r\nc", "a b c", "line breaks would end the row or the heading"},
		{"<b>&", "&lt;b&gt;&amp;", "renderers pass HTML through"},
		{"\x1b[31mred\x1b[0m", "red", "a colour escape"},
		{"\x1b]8;;http://e\x07link\x1b]8;;\x07", "link", "an OSC 8 hyperlink"},
		{"a\x1b", "a", "a lone escape"},
		{"a\x00b\x7fc\u0085d", "a\ufffdb\ufffdc\ufffdd", "controls become visible"},
		{"a\u009b1mb", "ab", "a C1 control sequence"},
		{"abc\u202edcba", "abc\ufffddcba", "a bidirectional override would reorder what is read"},
		{`a\`, `a\\`, "a trailing backslash would escape what follows"},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q: %s", tt.in, got, tt.want, tt.why)
		}
	}
}

func TestLineStartAndCode(t *testing.T) {
	for in, want := range map[string]string{"# h": `\# h`, "- x": `\- x`, "1. x": `1\. x`, "2) x": `2\) x`, "ok": "ok"} {
		if got := lineStart(in); got != want {
			t.Errorf("lineStart(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"r-1": "`r-1`", "a`b": "``a`b``", "a``b": "```a``b```", "`x": "`` `x ``", "<x>": "`&lt;x&gt;`"} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever the names say, the hostile document renders with no terminal
// escape, every table row has its header's cells, and no link, image or
// raw HTML appears.
func TestMarkdownOfHostileNamesStaysInPlace(t *testing.T) {
	out := render(t, Markdown, hostileDocument())
	if bytes.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Fatalf("a control character is left:\n%q", out)
	}
	unescapedPipe := regexp.MustCompile(`(^|[^\\])\|`)
	lines := strings.Split(string(out), "\n")
	cols := 0
	for _, l := range lines {
		if !strings.HasPrefix(l, "|") {
			cols = 0
			continue
		}
		n := len(unescapedPipe.FindAllString(l, -1))
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("a row with %d cells under a header of %d: %q", n-1, cols-1, l)
		}
	}
	for _, bad := range []string{`(^|[^\\])\]\(`, "<img", "<script", "\n# owned", "\n- 1."} {
		if regexp.MustCompile(bad).Match(out) {
			t.Errorf("%q made it into the Markdown", bad)
		}
	}
}
