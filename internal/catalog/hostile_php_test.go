package catalog

import (
	"strings"
	"testing"
)

// phpLeak says where the marker is in a PHP file outside its string
// literals: in code, in a comment, or in text outside <?php ... ?> (which
// PHP prints); "" if nowhere.
func phpLeak(text string) string {
	if !strings.HasPrefix(text, "<?php") {
		return "does not start with <?php"
	}
	code := &strings.Builder{}
	for i := len("<?php"); i < len(text); {
		c := text[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for ; j < len(text) && text[j] != c; j++ {
				if text[j] == '\\' {
					j++
				}
			}
			if j >= len(text) {
				return "unterminated string"
			}
			i = j + 1
		case c == '#' || strings.HasPrefix(text[i:], "//"):
			// A line comment ends at the line's end or at ?>.
			j := i
			for j < len(text) && text[j] != '\n' && !strings.HasPrefix(text[j:], "?>") {
				j++
			}
			if strings.Contains(text[i:j], marker) {
				return "in a comment"
			}
			i = j
		case strings.HasPrefix(text[i:], "/*"):
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				return "unterminated comment"
			}
			if strings.Contains(text[i:i+2+j], marker) {
				return "in a comment"
			}
			i += 2 + j + 2
		case strings.HasPrefix(text[i:], "<<<"):
			return "a heredoc (not read by this check)"
		case strings.HasPrefix(text[i:], "?>"):
			j := strings.Index(text[i:], "<?php")
			if j < 0 {
				j = len(text) - i
			}
			if strings.Contains(text[i:i+j], marker) {
				return "in text outside PHP, which PHP prints"
			}
			i += j + len("<?php")
		default:
			code.WriteByte(c)
			i++
		}
	}
	if strings.Contains(code.String(), marker) {
		return "in PHP code"
	}
	return ""
}

func TestPHPLeak(t *testing.T) {
	for text, want := range map[string]string{
		"<?php $a = 'INJECTED';":              "",
		`<?php $a = "x\"INJECTED";`:           "",
		`<?php $a = 'x\'INJECTED';`:           "",
		"<?php $a = 'x'; INJECTED();":         "in PHP code",
		"<?php // INJECTED\n":                 "in a comment",
		"<?php /* INJECTED */":                "in a comment",
		"<?php // x ?>INJECTED":               "in text outside PHP, which PHP prints",
		"<?php $a = 'x';\n?>INJECTED<?php ;":  "in text outside PHP, which PHP prints",
		"<?php $a = 'INJECTED":                "unterminated string",
		"<?php $a = <<<EOT\nINJECTED\nEOT;\n": "a heredoc (not read by this check)",
	} {
		if got := phpLeak(text); got != want {
			t.Errorf("phpLeak(%q) = %q, want %q", text, got, want)
		}
	}
}
