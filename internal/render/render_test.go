package render

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	for _, f := range formats {
		got, err := ParseFormat(string(f))
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("toml"); err == nil {
		t.Error("ParseFormat(toml) succeeded")
	}
	if _, err := Parse("x", "toml", ""); err == nil || !strings.HasPrefix(err.Error(), "x: ") {
		t.Errorf("Parse with an unknown format: %v", err)
	}
}

func TestParseRefusesUnescapedOutput(t *testing.T) {
	for _, tc := range []struct {
		format Format
		text   string
		want   string // error prefix
	}{
		{INI, "a = {{.password}}", "t.ini:1: action {{.password}} prints a value without an escaper"},
		{INI, "\n\nb = {{printf \"%s\" .password}}", "t.ini:3: action {{printf"},
		{INI, "a = {{html .password}}", "t.ini:1: action {{html .password}}"},
		{INI, "a = {{quote .password | printf \"%s\"}}", "t.ini:1: action {{quote .password | printf \"%s\"}} prints"},
		{INI, "a = {{(quote .password).X}}", "t.ini:1: action"},
		{INI, "{{define \"sub\"}}\nx = {{.password}}{{end}}", "t.ini:2: action {{.password}}"},
		{INI, "{{if .tls}}\n{{range .admins}}\n{{.}}{{end}}{{end}}", "t.ini:3: action {{.}}"},
		{INI, "{{with .password}}{{.}}{{end}}", "t.ini:1: action {{.}}"},
		{INI, "{{$x := .password}}{{$x}}", "t.ini:1: action {{$x}}"},
		{INI, "a = {{raw .password}}", "t.ini:1: function \"raw\" not defined"},
		{YAML, "a: {{word .password}}", "t.ini:1: function \"word\" not defined"},
		{INI, "{{if printf \"%s\" quote}}{{end}}", "t.ini:1: escaper quote must be called"},
		{INI, "a = {{bool .tls .password .password}}", "t.ini:1: parameter .password of bool must be a string literal"},
		{INI, "a = {{bool .tls \"on\"}}", "t.ini:1: bool takes 2 parameters, not 1"},
		{INI, "a = {{quote .password \"x\"}}", "t.ini:1: quote takes 0 parameters, not 1"},
		{INI, "a = {{quote}}", "t.ini:1: quote needs a value"},
		{INI, "a = {{quote .password", "t.ini:1: unclosed action"},
	} {
		_, err := Parse("t.ini", tc.format, tc.text)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want prefix %q", tc.text, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) error has several lines: %q", tc.text, err)
		}
	}
}

func TestParseAcceptsEscapedOutput(t *testing.T) {
	text := `{{/* comment */}}{{"{{"}} {{$x := .password}}{{$x = .name}}
a = {{quote .password}} {{.password | quote}} {{quote $x}}
{{- if .tls}} {{bool .tls}} {{.tls | bool "on" "off"}} {{bool .tls "yes" "no"}}{{end}}
{{range $i, $a := .admins}}{{if $i}},{{end}}{{quote $a}}{{else}}none{{end}}
{{with .port}}{{int .}}{{end}} {{word .host}}
{{define "sub"}}s = {{quote .}}{{end}}{{template "sub" .name}}
{{block "blk" .}}b = {{int .port}}{{end}}`
	tmpl, err := Parse("t.ini", INI, text)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(map[string]any{
		"password": "p", "name": "n", "tls": true, "admins": []string{"x", "y"}, "port": 64738, "host": "a.onion",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{{ 
a = "p" "p" "n" true on yes
"x","y"
64738 a.onion
s = "n"
b = 64738`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestRenderRefusesWrongTypes(t *testing.T) {
	tmpl, err := Parse("ngircd.conf", Conf, "[Global]\n\tName = {{word .host}}\n\tPorts = {{int .port}}\n\tTLS = {{.tls | bool \"yes\" \"no\"}}\n\tInfo = {{quote .info}}\n")
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"host": "irc.example.onion", "port": 6667, "tls": false, "info": "hi"}
	if _, err := tmpl.Render(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key   string
		value any
		want  string
	}{
		{"port", "6667; rm -rf S3CRET", "ngircd.conf:3: value of .port is a string, not an integer"},
		{"port", 1.5, "ngircd.conf:3: value of .port is not an integer"},
		{"port", true, "ngircd.conf:3: value of .port is a bool, not an integer"},
		{"port", nil, "ngircd.conf:3: value of .port is missing (no value)"},
		{"tls", "yes S3CRET", "ngircd.conf:4: value of .tls is a string, not a boolean"},
		{"host", "a b S3CRET", "ngircd.conf:2: value of .host contains a character a bare word cannot hold (use quote)"},
		{"host", "", "ngircd.conf:2: value of .host is empty, which cannot be a bare word"},
		{"info", []string{"S3CRET"}, "ngircd.conf:5: value of .info is a []string, not a string"},
		{"info", map[string]any{"S3CRET": 1}, "ngircd.conf:5: value of .info is a map[string]interface {}, not a string"},
		{"info", "S3CRET\n", "ngircd.conf:5: value of .info contains a line break (CR or LF), which conf strings cannot hold"},
	} {
		data := map[string]any{}
		for k, v := range good {
			data[k] = v
		}
		data[tc.key] = tc.value
		if tc.value == nil {
			delete(data, tc.key)
		}
		_, err := tmpl.Render(data)
		var re *Error
		if !errors.As(err, &re) || err.Error() != tc.want {
			t.Errorf("%s=%#v: error %v, want %q", tc.key, tc.value, err, tc.want)
			continue
		}
		if re.Template != "ngircd.conf" || re.Key != "."+tc.key {
			t.Errorf("%s: Error fields %+v", tc.key, re)
		}
	}
}

func TestIntAcceptsIntegers(t *testing.T) {
	tmpl, err := Parse("t", YAML, "{{int .n}}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    any
		want string
	}{{42, "42"}, {int8(-3), "-3"}, {uint64(1 << 63), "9223372036854775808"}, {float64(64738), "64738"}, {-1e15, "-1000000000000000"}} {
		out, err := tmpl.Render(map[string]any{"n": tc.v})
		if err != nil || string(out) != tc.want {
			t.Errorf("int %#v = %q, %v; want %q", tc.v, out, err, tc.want)
		}
	}
	if _, err := tmpl.Render(map[string]any{"n": 1e300}); err == nil {
		t.Error("int 1e300 accepted")
	}
}

// TestErrorsNeverContainTheValue renders every hostile value, marked, in
// every format: a refusal must not repeat it.
func TestErrorsNeverContainTheValue(t *testing.T) {
	for _, f := range formats {
		tmpl, err := Parse("secret."+string(f), f, "x {{quote .password}} {{int .password}} {{bool .password}}")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range hostile("/nonexistent") {
			_, err := tmpl.Render(map[string]any{"password": "S3CRET" + v})
			if err == nil {
				t.Fatalf("%s: int of a string accepted", f)
			}
			if strings.Contains(err.Error(), "S3CRET") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %q repeats the value or has several lines", f, err)
			}
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		f        Format
		in, want string
	}{
		{INI, `a"b\c;#`, `"a\"b\\c;#"`},
		{Conf, `a"b;#`, `"a\"b;#"`},
		{YAML, "a\"b\\\n\u0085\ufeffé", `"a\"b\\\n\u0085\uFEFFé"`},
		{Lua, "a\"'\\\n\r\t\x011]]", `"a\"\'\\\n\r\t\0011]]"`},
		{XML, "<a href='x'>&\"\n\r\t", "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&#10;&#13;&#9;"},
		{Shell, "it's $(x)\n", `'it'\''s $(x)` + "\n'"},
	} {
		got, err := Quote(tc.f, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Quote(%s, %q) = %q, %v; want %q", tc.f, tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		f  Format
		in string
	}{
		{INI, "a\nb"}, {INI, "a\rb"}, {INI, "a\x1bb"}, {INI, "a\u2028b"}, {Conf, "a\nb"}, {Conf, `a\b`},
		{XML, "a\x01b"}, {XML, "a\uffffb"}, {YAML, "\xff"}, {Shell, "a\x00"}, {Lua, "a\x00"}, {YAML, "\x00"},
	} {
		if got, err := Quote(tc.f, tc.in); err == nil {
			t.Errorf("Quote(%s, %q) = %q, want a refusal", tc.f, tc.in, got)
		}
	}
	if _, err := Quote("toml", "x"); err == nil {
		t.Error("Quote(toml) succeeded")
	}
}
