package render

import (
	"strings"
	"testing"
)

func TestSplitRangesAndEscapes(t *testing.T) {
	tm, err := Parse("ngircd.conf", Conf, "{{range split \",\" .channels}}[Channel]\nName = #{{. | word}}\n{{end}}")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tm.Render(map[string]any{"channels": " one,two ,, "})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[Channel]\nName = #one\n[Channel]\nName = #two\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	// Each element still passes through the escaper.
	if _, err := tm.Render(map[string]any{"channels": "ok,bad\nName = x"}); err == nil || strings.Contains(err.Error(), "bad") {
		t.Fatalf("hostile element: %v", err)
	}
	if _, err := tm.Render(map[string]any{"channels": []int{3}}); err == nil {
		t.Fatal("split of a list succeeded")
	}
}

func TestSplitIsNotAnEscaper(t *testing.T) {
	for _, text := range []string{`{{split "," .x}}`, `{{.x | split ","}}`, `{{index (split "," .x) 0}}`} {
		if _, err := Parse("t", INI, text); err == nil || !strings.Contains(err.Error(), "without an escaper") {
			t.Errorf("%s: %v, want refused", text, err)
		}
	}
}
