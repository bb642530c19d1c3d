package catalog

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/testenv"
	catalogfs "tails-server/services"
)

// marker is the part of each hostile value that must never leave its
// string: found anywhere but inside a literal of the file, it is an
// injection.
const marker = "INJECTED"

// hostileSet holds values built to break out of a string, a line, a
// comment or a template in one of the formats; the marker is what would
// land as a directive, a key, code or a command.
var hostileSet = []string{
	"x\n" + marker + " = 1", "x\r\n" + marker + "=1", "x\r" + marker, "\n[" + marker + "]\n", "x\n" + marker + ": 1",
	"x\n- " + marker, `x"; ` + marker + ` = "1`, `x"` + marker, `x'` + marker, `x'; ` + marker + `; '`, `x\"` + marker,
	"x\\\n" + marker, `x\` + marker, "x\\", "{{" + marker + "}}", "{{.option.password}}" + marker, "$(" + marker + ")",
	"`" + marker + "`", "${" + marker + "}", "x;" + marker, "x # " + marker, "x ; " + marker, "x -- " + marker,
	`]]..` + marker + `("x")..[[`, `"..` + marker + `().."`, `\"..` + marker + `()--`, `x'..` + marker + `..'`,
	"</x><" + marker + "/>", "&" + marker + ";", "<!--" + marker + "-->", "x\x00" + marker, "x\u0085" + marker,
	"x\u2028" + marker, "x\x0b" + marker, "x\x0c" + marker, "x\t" + marker, " " + marker, marker + " ", "x " + marker,
	"#" + marker, "x," + marker, `x\n` + marker, "\ufeff" + marker, "x\x1b[2J" + marker, "x\x7f" + marker,
	marker + "\n", "a b\n" + marker + " c", "u p\n" + marker, "ssh-ed25519 AAAAC3Nz x\n" + marker,
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI x\n" + marker + " = 1", "#c\n" + marker,
}

// TestHostileValuesEveryOption sets every option of every built-in
// service, one at a time, to each hostile value, renders every config
// file the service has and reads it with a parser of its format (luac5.4,
// sh -n and php -l besides, for Lua, shell and PHP): each value is refused (by the
// option's check or by the renderer) or lands inside a literal, the
// marker never anywhere else. It prints the count of injections found,
// the figure `make reliability` reports.
func TestHostileValuesEveryOption(t *testing.T) {
	luac := testenv.RequireProgram(t, "luac5.4")
	sh := testenv.RequireProgram(t, "sh")
	php := testenv.RequireProgram(t, "php")
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	// syntax runs the format's real checker, if it has one here.
	syntax := func(format string, out []byte) error {
		var cmd *exec.Cmd
		switch format {
		case "lua":
			cmd = exec.Command(luac, "-p", "-")
		case "shell":
			cmd = exec.Command(sh, "-n")
		case "php":
			cmd = exec.Command(php, "-n", "-l")
		default:
			return nil
		}
		cmd.Stdin = bytes.NewReader(out)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
		return nil
	}
	var options, tried, refused, rendered, injections int
	for _, name := range cat.Names() {
		s, _ := cat.Get(name)
		for _, cf := range s.ConfigFiles {
			out, err := RenderConfig(s, cf, nil, standIn)
			if err != nil {
				t.Fatalf("%s %s: defaults do not render: %v", name, cf.Path, err)
			}
			if err := syntax(cf.Format, out); err != nil {
				t.Fatalf("%s %s: defaults do not pass the syntax check: %v", name, cf.Path, err)
			}
			if leak := outsideLiterals(cf.Format, string(out)); leak != "" {
				t.Fatalf("%s %s: the marker is in the template itself: %s", name, cf.Path, leak)
			}
		}
		for _, o := range append(CommonOptions(), s.Options...) {
			options++
			for _, v := range hostileSet {
				tried++
				norm, err := o.Validate(v)
				if err != nil {
					refused++
					continue
				}
				values := map[string]string{o.Name: norm}
				for _, cf := range s.ConfigFiles {
					out, err := RenderConfig(s, cf, values, standIn)
					if err != nil {
						refused++
						continue
					}
					rendered++
					leak := outsideLiterals(cf.Format, string(out))
					if leak == "" {
						if err := syntax(cf.Format, out); err != nil {
							leak = "the file no longer parses: " + err.Error()
						}
					}
					if leak != "" {
						injections++
						t.Errorf("%s: option %s = %q: %s: %s\n%s", name, o.Name, v, cf.Path, leak, out)
					}
				}
			}
		}
	}
	fmt.Printf("hostile values: %d services, %d options x %d values (%d tries), %d renders, %d refused, injections found: %d\n",
		len(cat.Names()), options, len(hostileSet), tried, rendered, refused, injections)
}

// outsideLiterals says where the marker is outside the literals of a file
// of format f (or that the file does not parse), or "" if it is not.
func outsideLiterals(f, text string) string {
	switch f {
	case "ini", "conf":
		return keyValueLeak(text)
	case "lua":
		return luaLeak(text)
	case "shell":
		return shellLeak(text)
	case "yaml":
		return yamlLeak(text)
	case "xml":
		return xmlLeak(text)
	case "php":
		return phpLeak(text)
	}
	return "unknown format " + f
}

// keyValueLeak reads INI and conf files as their consumers do: one
// directive a line (sections, `key = value` or `key value`, # and ;
// comments); a value is a double-quoted string (with \" and \\) or bare
// words. The marker may only be in a value.
func keyValueLeak(text string) string {
	for n, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '#' || line[0] == ';' || line[0] == '[' || line[0] == '<' || line[0] == '}' || line[0] == '{' {
			if strings.Contains(line, marker) {
				return fmt.Sprintf("line %d: in a comment or section: %q", n+1, line)
			}
			continue
		}
		i := strings.IndexAny(line, " \t=")
		if i < 0 {
			i = len(line)
		}
		key, val := line[:i], strings.TrimLeft(line[i:], " \t=")
		if strings.Contains(key, marker) {
			return fmt.Sprintf("line %d: in a directive: %q", n+1, line)
		}
		// A # or ; after a value starts a comment (lighttpd); first in
		// the value it is part of a word (ngIRCd's "Name = #chan").
		for first := true; val != ""; first = false {
			if val[0] == '"' {
				end := 1
				for ; end < len(val) && val[end] != '"'; end++ {
					if val[end] == '\\' {
						end++
					}
				}
				if end >= len(val) {
					return fmt.Sprintf("line %d: unterminated string: %q", n+1, line)
				}
				val = strings.TrimLeft(val[end+1:], " \t,")
				continue
			}
			if !first && (val[0] == '#' || val[0] == ';') {
				if strings.Contains(val, marker) {
					return fmt.Sprintf("line %d: in a trailing comment: %q", n+1, line)
				}
				break
			}
			word, rest, _ := strings.Cut(val, " ")
			if strings.ContainsAny(word, `"\`) {
				return fmt.Sprintf("line %d: quote or backslash in a bare value: %q", n+1, line)
			}
			val = strings.TrimLeft(rest, " \t")
		}
	}
	return ""
}

// luaLeak lexes Lua: "..." and '...' strings (with escapes), long
// strings and comments ([[...]], [==[...]==]), -- comments.
func luaLeak(text string) string {
	code := &strings.Builder{}
	longEnd := func(s string) (string, int) { // "]==]", length of the opening
		j := 1
		for j < len(s) && s[j] == '=' {
			j++
		}
		if j < len(s) && s[j] == '[' {
			return "]" + strings.Repeat("=", j-1) + "]", j + 1
		}
		return "", 0
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for ; j < len(text) && text[j] != c; j++ {
				if text[j] == '\\' {
					j++
				} else if text[j] == '\n' {
					return "line break in a short string"
				}
			}
			if j >= len(text) {
				return "unterminated string"
			}
			i = j + 1
		case c == '[':
			if end, n := longEnd(text[i:]); n > 0 {
				j := strings.Index(text[i+n:], end)
				if j < 0 {
					return "unterminated long string"
				}
				i += n + j + len(end)
				continue
			}
			code.WriteByte(c)
			i++
		case strings.HasPrefix(text[i:], "--"):
			if end, n := longEnd(text[i+2:]); n > 0 {
				j := strings.Index(text[i+2+n:], end)
				if j < 0 {
					return "unterminated long comment"
				}
				if strings.Contains(text[i:i+2+n+j], marker) {
					return "in a comment"
				}
				i += 2 + n + j + len(end)
				continue
			}
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				j = len(text) - i
			}
			if strings.Contains(text[i:i+j], marker) {
				return "in a comment"
			}
			i += j
		default:
			code.WriteByte(c)
			i++
		}
	}
	if strings.Contains(code.String(), marker) {
		return "in Lua code"
	}
	return ""
}

// shellLeak lexes POSIX sh: '...' is a literal; "..." is one unless it
// expands ($ or `); a backslash quotes the next character; # starts a
// comment at the start of a word. The marker may only be in a literal.
func shellLeak(text string) string {
	code := &strings.Builder{}
	wordStart := true
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(text[i+1:], '\'')
			if j < 0 {
				return "unterminated '"
			}
			i += j + 1
			wordStart = false
			continue
		case c == '"':
			j := i + 1
			for ; j < len(text) && text[j] != '"'; j++ {
				if text[j] == '\\' {
					j++
				}
			}
			if j >= len(text) {
				return `unterminated "`
			}
			if s := text[i+1 : j]; strings.Contains(s, marker) && strings.ContainsAny(s, "$`") {
				return "in an expanding double-quoted string"
			}
			i = j
			wordStart = false
			continue
		case c == '\\':
			i++
			wordStart = false
			continue
		case c == '#' && wordStart:
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				j = len(text) - i
			}
			if strings.Contains(text[i:i+j], marker) {
				return "in a comment"
			}
			i += j - 1
			continue
		}
		code.WriteByte(c)
		wordStart = strings.IndexByte(" \t\n;&|()<>", c) >= 0
	}
	if strings.Contains(code.String(), marker) {
		return "in shell code"
	}
	return ""
}

// yamlLeak parses with go.yaml.in/yaml/v3: the marker may only be in a
// scalar value, never a key, tag, anchor or comment.
func yamlLeak(text string) string {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return "does not parse: " + err.Error()
	}
	var walk func(n *yaml.Node, key bool) string
	walk = func(n *yaml.Node, key bool) string {
		for _, s := range []string{n.Tag, n.Anchor, n.HeadComment, n.LineComment, n.FootComment} {
			if strings.Contains(s, marker) {
				return "in a tag, anchor or comment"
			}
		}
		if key && strings.Contains(n.Value, marker) {
			return "in a key"
		}
		for i, c := range n.Content {
			if leak := walk(c, n.Kind == yaml.MappingNode && i%2 == 0); leak != "" {
				return leak
			}
		}
		return ""
	}
	return walk(&doc, false)
}

// xmlLeak reads tokens with encoding/xml: the marker may only be in
// character data or an attribute value.
func xmlLeak(text string) string {
	d := xml.NewDecoder(strings.NewReader(text))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			return "does not parse: " + err.Error()
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if strings.Contains(tok.Name.Local+tok.Name.Space, marker) {
				return "in an element name"
			}
			for _, a := range tok.Attr {
				if strings.Contains(a.Name.Local+a.Name.Space, marker) {
					return "in an attribute name"
				}
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
			if strings.Contains(fmt.Sprint(tok), marker) {
				return "in a comment, instruction or directive"
			}
		}
	}
}

// TestLeakDetectors: each format's detector finds the marker where an
// unescaped value would put it, and not inside a literal.
func TestLeakDetectors(t *testing.T) {
	for _, c := range []struct {
		format, text string
		leak         bool
	}{
		{"ini", "a=\"x\\\"" + marker + "\"\n", false},
		{"ini", "a=\"x\"\n" + marker + "=1\n", true},
		{"conf", "a \"x\" # " + marker + "\n", true},
		{"conf", "Name = #" + marker + "\n", false},
		{"lua", "a = \"x\\\"" + marker + "\"\n", false},
		{"lua", "a = \"x\"" + marker + "\n", true},
		{"lua", "a = [[x]]..[==[" + marker + "]==]\n", false},
		{"lua", "a = [[x]].." + marker + "\n", true},
		{"shell", "A='x'\\''" + marker + "'\n", false},
		{"shell", "A='x';" + marker + "\n", true},
		{"shell", "A=\"$(" + marker + ")\"\n", true},
		{"yaml", "a: \"" + marker + "\"\n", false},
		{"yaml", marker + ": 1\n", true},
		{"xml", "<a b=\"" + marker + "\">" + marker + "</a>", false},
		{"xml", "<a><" + marker + "/></a>", true},
	} {
		if got := outsideLiterals(c.format, c.text); (got != "") != c.leak {
			t.Errorf("%s %q: leak %q, want a leak %v", c.format, c.text, got, c.leak)
		}
	}
}
