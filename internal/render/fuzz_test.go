package render

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// FuzzQuote checks, for every format, that quote refuses what the format
// documents refusing, never emits a raw line break where line breaks are
// refused (or escaped), and round-trips through a Go parser of the format.
func FuzzQuote(f *testing.F) {
	for _, v := range hostile("/nonexistent") {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, format := range formats {
			out, err := Quote(format, v)
			refuse := wantRefused(format, v) || !utf8.ValidString(v)
			if refuse != (err != nil) {
				t.Fatalf("%s: Quote(%q) = %q, %v; want refused %v", format, v, out, err, refuse)
			}
			if err != nil {
				if strings.Contains(err.Error(), v) && len(v) > 3 {
					t.Fatalf("%s: error %q repeats the value", format, err)
				}
				continue
			}
			if format != Shell && format != PHP && strings.ContainsAny(out, "\r\n") {
				t.Fatalf("%s: Quote(%q) = %q has a raw line break", format, v, out)
			}
			got, err := unquoteFor(format, out)
			if err != nil || got != v {
				t.Fatalf("%s: Quote(%q) = %q reads back as %q, %v", format, v, out, got, err)
			}
		}
	})
}

// unquoteFor reads a quoted value back with a parser of the format: the
// real one for YAML and XML, strict test parsers for the others.
func unquoteFor(f Format, q string) (string, error) {
	switch f {
	case INI, Conf:
		unquote := iniString
		if f == Conf {
			unquote = confString
		}
		if !strings.HasPrefix(q, `"`) {
			return "", errors.New("not a string")
		}
		s, rest, err := unquote(q)
		if err == nil && rest != "" {
			err = errors.New("text after the string")
		}
		return s, err
	case YAML:
		var doc map[string]string
		if err := yaml.Unmarshal([]byte("v: "+q+"\n"), &doc); err != nil {
			return "", err
		}
		if len(doc) != 1 {
			return "", errors.New("not one key")
		}
		return doc["v"], nil
	case XML:
		var doc struct {
			Attr  string `xml:"a,attr"`
			Attr2 string `xml:"b,attr"`
			Text  string `xml:",chardata"`
		}
		if err := xml.Unmarshal([]byte(`<x a="`+q+`" b='`+q+`'>`+q+`</x>`), &doc); err != nil {
			return "", err
		}
		if doc.Attr != doc.Text || doc.Attr2 != doc.Text {
			return "", errors.New("attribute and text differ")
		}
		return doc.Text, nil
	case Lua:
		return luaString(q)
	case Shell:
		return shellWord(q)
	case PHP:
		return phpString(q)
	}
	return "", errors.New("unknown format")
}

// luaString decodes a Lua "..." literal using only the escapes quote uses.
func luaString(q string) (string, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", errors.New("not a string")
	}
	var b bytes.Buffer
	for i := 1; i < len(q)-1; i++ {
		c := q[i]
		switch {
		case c == '"' || c == '\n' || c == '\r':
			return "", errors.New("raw quote or line break")
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		switch q[i] {
		case '\\', '"', '\'':
			b.WriteByte(q[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			if i+3 > len(q)-1 {
				return "", errors.New("short escape")
			}
			n := 0
			for _, d := range q[i : i+3] {
				if d < '0' || d > '9' {
					return "", errors.New("bad escape")
				}
				n = n*10 + int(d-'0')
			}
			b.WriteByte(byte(n))
			i += 2
		}
	}
	return b.String(), nil
}

// shellWord decodes a word made of '...' runs joined by \'.
func shellWord(q string) (string, error) {
	var b strings.Builder
	for q != "" {
		switch {
		case strings.HasPrefix(q, `\'`):
			b.WriteByte('\'')
			q = q[2:]
		case q[0] == '\'':
			end := strings.IndexByte(q[1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated quote")
			}
			b.WriteString(q[1 : 1+end])
			q = q[2+end:]
		default:
			return "", errors.New("unquoted text")
		}
	}
	return b.String(), nil
}

// phpString decodes a PHP '...' literal as PHP does: \\ and \' are
// escapes, a backslash before anything else is literal, and a quote
// before the end closes it too early.
func phpString(q string) (string, error) {
	if len(q) < 2 || q[0] != '\'' || q[len(q)-1] != '\'' {
		return "", errors.New("not a string")
	}
	var b strings.Builder
	for i := 1; i < len(q)-1; i++ {
		switch c := q[i]; {
		case c == '\'':
			return "", errors.New("string closed before its end")
		case c == '\\' && (q[i+1] == '\\' || q[i+1] == '\''):
			if i+1 == len(q)-1 {
				return "", errors.New("closing quote escaped")
			}
			b.WriteByte(q[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
