package render

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// escapersFor holds each format's escapers by template function name.
var escapersFor = map[Format]map[string]escaper{
	INI:   {"quote": quoting(quoteINI), "int": escapeInt, "bool": escapeBool, "word": escapeWord},
	Conf:  {"quote": quoting(quoteConf), "int": escapeInt, "bool": escapeBool, "word": escapeWord},
	YAML:  {"quote": quoting(quoteYAML), "int": escapeInt, "bool": escapeBool},
	Lua:   {"quote": quoting(quoteLua), "int": escapeInt, "bool": escapeBool},
	XML:   {"quote": quoting(quoteXML), "int": escapeInt, "bool": escapeBool},
	Shell: {"quote": quoting(quoteShell), "int": escapeInt, "bool": escapeBool},
	PHP:   {"quote": quoting(quotePHP), "int": escapeInt, "bool": escapeBool},
}

// quoteFuncs holds each format's string quoting, for Quote and tests.
var quoteFuncs = map[Format]func(string) (string, string){
	INI: quoteINI, Conf: quoteConf, YAML: quoteYAML, Lua: quoteLua, XML: quoteXML, Shell: quoteShell,
	PHP: quotePHP,
}

// Quote returns s as a string literal of format f, as the quote escaper
// prints it, or an error saying why s cannot be represented safely (the
// error never contains s).
func Quote(f Format, s string) (string, error) {
	q, ok := quoteFuncs[f]
	if !ok {
		_, err := ParseFormat(string(f))
		return "", err
	}
	out, reason := q(s)
	if reason != "" {
		return "", fmt.Errorf("value %s", reason)
	}
	return out, nil
}

// quoting makes a quote escaper from a string quoting function.
func quoting(q func(string) (string, string)) escaper {
	return func(v any, _ []string) (string, string) {
		s, reason := toString(v)
		if reason != "" {
			return "", reason
		}
		return q(s)
	}
}

// toString converts the values quote accepts to a string.
func toString(v any) (string, string) {
	if v == nil {
		return "", "is missing (no value)"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), ""
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), ""
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), ""
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", "is not a finite number"
		}
		return strconv.FormatFloat(f, 'g', -1, 64), ""
	}
	return "", fmt.Sprintf("is a %s, not a string", typeName(v))
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// common checks what every format refuses.
func common(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL byte"
	}
	return ""
}

// lineSafe checks what INI and Conf strings cannot hold: line breaks and
// other control characters.
func lineSafe(s string, format Format) string {
	if reason := common(s); reason != "" {
		return reason
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			return fmt.Sprintf("contains a line break (CR or LF), which %s strings cannot hold", format)
		case r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			return fmt.Sprintf("contains a control character, which %s strings cannot hold", format)
		}
	}
	return ""
}

func quoteINI(s string) (string, string) {
	if reason := lineSafe(s, INI); reason != "" {
		return "", reason
	}
	return backslashQuoted(s, '"'), ""
}

// backslashQuoted returns s between two q, with every q and backslash in
// it escaped by a backslash.
func backslashQuoted(s string, q byte) string {
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == q {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(q)
	return b.String()
}

func quoteConf(s string) (string, string) {
	if reason := lineSafe(s, Conf); reason != "" {
		return "", reason
	}
	if strings.IndexByte(s, '\\') >= 0 {
		return "", "contains a backslash, which conf strings cannot hold"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`, ""
}

func quoteYAML(s string) (string, string) {
	if reason := common(s); reason != "" {
		return "", reason
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			switch {
			case r >= 0x20 && r < 0x7f,
				r >= 0xa0 && r <= 0xd7ff && r != 0x2028 && r != 0x2029,
				r >= 0xe000 && r <= 0xfffd && r != 0xfeff,
				r >= 0x10000:
				b.WriteRune(r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String(), ""
}

func quoteLua(s string) (string, string) {
	if reason := common(s); reason != "" {
		return "", reason
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\'':
			b.WriteString(`\'`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%03d`, c) // three digits: never merges with a following digit
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String(), ""
}

func quoteXML(s string) (string, string) {
	if reason := common(s); reason != "" {
		return "", reason
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\t':
			b.WriteString("&#9;")
		case '\n':
			b.WriteString("&#10;")
		case '\r':
			b.WriteString("&#13;")
		default:
			if r < 0x20 || r == 0xfffe || r == 0xffff {
				return "", "contains a character XML cannot hold"
			}
			b.WriteRune(r)
		}
	}
	return b.String(), ""
}

func quoteShell(s string) (string, string) {
	if reason := common(s); reason != "" {
		return "", reason
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", ""
}

// quotePHP prints a PHP single-quoted string: \ and ' are escaped with a
// backslash, every other byte is literal. A backslash before any other
// character is literal in PHP too, but escaping every one keeps a value
// ending in \ from escaping the closing quote.
func quotePHP(s string) (string, string) {
	if reason := common(s); reason != "" {
		return "", reason
	}
	return backslashQuoted(s, '\''), ""
}

// escapeInt prints an integer value in decimal.
func escapeInt(v any, _ []string) (string, string) {
	if v == nil {
		return "", "is missing (no value)"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), ""
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), ""
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return strconv.FormatInt(int64(f), 10), ""
		}
		return "", "is not an integer"
	}
	return "", fmt.Sprintf("is a %s, not an integer", typeName(v))
}

// escapeBool prints a boolean value as true/false or as the two words
// given.
func escapeBool(v any, words []string) (string, string) {
	b, ok := v.(bool)
	if !ok {
		if v == nil {
			return "", "is missing (no value)"
		}
		return "", fmt.Sprintf("is a %s, not a boolean", typeName(v))
	}
	if len(words) != 2 {
		words = []string{"true", "false"}
	}
	if b {
		return words[0], ""
	}
	return words[1], ""
}

// escapeWord prints a value bare when it is made only of characters no
// INI or conf parser treats specially.
func escapeWord(v any, _ []string) (string, string) {
	s, reason := toString(v)
	if reason != "" {
		return "", reason
	}
	if reason := common(s); reason != "" {
		return "", reason
	}
	if s == "" {
		return "", "is empty, which cannot be a bare word"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-:/@+", c) >= 0) {
			return "", "contains a character a bare word cannot hold (use quote)"
		}
	}
	return s, ""
}
