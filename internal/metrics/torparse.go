package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on what ParseTor reads: tor's answer is outside input.
const (
	MaxTorBytes   = 4 << 20 // the whole answer
	MaxTorSamples = 50000
	maxLabels     = 16
	maxLabelValue = 512
	maxLine       = 4096
)

// ParseTor reads the text tor's MetricsPort answers (Prometheus text),
// strictly: every line is a "# HELP", a "# TYPE", another comment, an
// empty line or a sample `name{label="value",...} value [timestamp]`; a
// sample belongs to the family of the last TYPE line whose name it
// carries (with _bucket, _sum or _count for a histogram), or to an untyped
// family of its own. More than MaxTorBytes, MaxTorSamples, long lines,
// many labels, bad names or escapes, or a value that is no number is an
// error naming the line, never quoting it.
func ParseTor(r io.Reader) ([]Family, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxTorBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading tor's metrics: %w", err)
	}
	if len(b) > MaxTorBytes {
		return nil, fmt.Errorf("tor's metrics are larger than %d bytes", MaxTorBytes)
	}
	var fams []Family
	byName := map[string]int{}
	cur := -1
	samples := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, maxLine), maxLine)
	sc.Split(splitLF) // ScanLines would drop a CR, which must be refused
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		bad := func(why string) error { return fmt.Errorf("malformed tor metrics at line %d: %s", n, why) }
		if strings.ContainsAny(line, "\r\x00") {
			return nil, bad("control character")
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			f := strings.Fields(rest)
			if len(f) < 2 || (f[0] != "HELP" && f[0] != "TYPE") {
				continue // another comment
			}
			if !validName(f[1], true) {
				return nil, bad("invalid metric name")
			}
			i, seen := byName[f[1]]
			if !seen {
				i = len(fams)
				byName[f[1]] = i
				fams = append(fams, Family{Name: f[1], Type: Untyped})
			}
			switch f[0] {
			case "HELP":
				_, help, _ := strings.Cut(strings.TrimLeft(rest, " "), f[1])
				fams[i].Help = strings.TrimSpace(help)
			case "TYPE":
				if len(f) != 3 {
					return nil, bad("TYPE takes a name and a type")
				}
				switch f[2] {
				case Counter, Gauge, Histogram, Untyped, "summary":
				default:
					return nil, bad("unknown metric type")
				}
				fams[i].Type = f[2]
				cur = i
			}
			continue
		}
		name, s, err := parseSample(line)
		if err != nil {
			return nil, bad(err.Error())
		}
		if samples++; samples > MaxTorSamples {
			return nil, fmt.Errorf("tor's metrics hold more than %d samples", MaxTorSamples)
		}
		if cur >= 0 {
			f := &fams[cur]
			if suf, ok := strings.CutPrefix(name, f.Name); ok && (suf == "" || (f.Type == Histogram || f.Type == "summary") && (suf == "_bucket" || suf == "_sum" || suf == "_count")) {
				s.Suffix = suf
				f.Samples = append(f.Samples, s)
				continue
			}
		}
		i, seen := byName[name]
		if !seen {
			i = len(fams)
			byName[name] = i
			fams = append(fams, Family{Name: name, Type: Untyped})
		}
		fams[i].Samples = append(fams[i].Samples, s)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("malformed tor metrics at line %d: line longer than %d bytes", n+1, maxLine)
		}
		return nil, fmt.Errorf("reading tor's metrics: %w", err)
	}
	return fams, nil
}

// parseSample parses `name{labels} value [timestamp]`.
func parseSample(line string) (string, Sample, error) {
	var s Sample
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", s, errors.New("sample without a value")
	}
	name := line[:end]
	if !validName(name, true) {
		return "", s, errors.New("invalid metric name")
	}
	rest := line[end:]
	if rest[0] == '{' {
		labels, after, err := parseLabels(rest[1:])
		if err != nil {
			return "", s, err
		}
		s.Labels, rest = labels, after
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 || !strings.HasPrefix(rest, " ") {
		return "", s, errors.New("expected a value and an optional timestamp after the name")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", s, errors.New("value is not a number")
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return "", s, errors.New("timestamp is not an integer")
		}
	}
	s.Value = v
	return name, s, nil
}

// parseLabels parses `a="x",b="y"}` and returns what follows the brace.
func parseLabels(in string) ([]Label, string, error) {
	var labels []Label
	seen := map[string]bool{}
	for {
		in = strings.TrimLeft(in, " ")
		if strings.HasPrefix(in, "}") {
			return labels, in[1:], nil
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 {
			return nil, "", errors.New("label without '='")
		}
		ln := strings.TrimSpace(in[:eq])
		if !validName(ln, false) {
			return nil, "", errors.New("invalid label name")
		}
		if seen[ln] {
			return nil, "", errors.New("label given twice")
		}
		seen[ln] = true
		in = strings.TrimLeft(in[eq+1:], " ")
		if !strings.HasPrefix(in, `"`) {
			return nil, "", errors.New("label value not quoted")
		}
		var v strings.Builder
		i := 1
		for ; i < len(in) && in[i] != '"'; i++ {
			c := in[i]
			if c == '\\' {
				if i++; i == len(in) {
					break
				}
				switch in[i] {
				case '\\', '"':
					c = in[i]
				case 'n':
					c = '\n'
				default:
					return nil, "", errors.New("unknown escape in a label value")
				}
			}
			v.WriteByte(c)
			if v.Len() > maxLabelValue {
				return nil, "", fmt.Errorf("label value longer than %d bytes", maxLabelValue)
			}
		}
		if i >= len(in) {
			return nil, "", errors.New("unterminated label value")
		}
		if labels = append(labels, Label{ln, v.String()}); len(labels) > maxLabels {
			return nil, "", fmt.Errorf("more than %d labels", maxLabels)
		}
		in = strings.TrimLeft(in[i+1:], " ")
		if strings.HasPrefix(in, ",") {
			in = in[1:]
		} else if !strings.HasPrefix(in, "}") {
			return nil, "", errors.New("expected ',' or '}' after a label")
		}
	}
}

// splitLF splits at LF only, keeping any CR in the line.
func splitLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
