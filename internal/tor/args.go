package tor

import (
	"errors"
	"strings"
)

// arg is one space-separated argument of a reply line or event: either a
// positional value or a KEY=VALUE pair; quoted values are unquoted.
type arg struct {
	Key   string // "" for a positional argument
	Value string
}

// args is a parsed argument list.
type args []arg

// positional returns the positional arguments, in order.
func (a args) positional() []string {
	var out []string
	for _, x := range a {
		if x.Key == "" {
			out = append(out, x.Value)
		}
	}
	return out
}

// keywords returns the KEY=VALUE arguments; a repeated key keeps its last
// value.
func (a args) keywords() map[string]string {
	m := map[string]string{}
	for _, x := range a {
		if x.Key != "" {
			m[x.Key] = x.Value
		}
	}
	return m
}

var errUnterminated = errors.New("unterminated quoted string")

// isKeyword reports whether s (the text before "=") is a keyword: a letter
// or "_" then letters, digits, "_". LongNames such as "$FP=nick" are not.
func isKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseArgs splits s into arguments. Values may be QuotedStrings
// ("...", with backslash escapes), which may hold spaces.
func parseArgs(s string) (args, error) {
	var out args
	i := 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		if s[i] == '"' {
			v, n, err := unquote(s[i:])
			if err != nil {
				return nil, err
			}
			out = append(out, arg{Value: v})
			i += n
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '=' {
			j++
		}
		if j < len(s) && s[j] == '=' && isKeyword(s[i:j]) {
			key := s[i:j]
			j++
			if j < len(s) && s[j] == '"' {
				v, n, err := unquote(s[j:])
				if err != nil {
					return nil, err
				}
				out = append(out, arg{Key: key, Value: v})
				i = j + n
				continue
			}
			k := j
			for k < len(s) && s[k] != ' ' {
				k++
			}
			out = append(out, arg{Key: key, Value: s[j:k]})
			i = k
			continue
		}
		for j < len(s) && s[j] != ' ' {
			j++
		}
		out = append(out, arg{Value: s[i:j]})
		i = j
	}
}

// unquote reads the QuotedString at the start of s and returns its value
// and the number of bytes it took. A backslash escapes the next character;
// \n, \r, \t and octal \NNN are decoded as in C (tor writes paths this way).
func unquote(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		return "", 0, errUnterminated
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i >= len(s) {
				return "", 0, errUnterminated
			}
			switch e := s[i]; {
			case e == 'n':
				b.WriteByte('\n')
			case e == 'r':
				b.WriteByte('\r')
			case e == 't':
				b.WriteByte('\t')
			case e >= '0' && e <= '7':
				v := 0
				n := 0
				for n < 3 && i < len(s) && s[i] >= '0' && s[i] <= '7' {
					v = v*8 + int(s[i]-'0')
					i++
					n++
				}
				i--
				b.WriteByte(byte(v))
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errUnterminated
}

// quote returns s as a QuotedString. Callers must have refused values
// holding '"', '\\' or control characters.
func quote(s string) string {
	return `"` + s + `"`
}
