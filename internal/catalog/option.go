package catalog

import (
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Option types, the values of Option.Type.
const (
	TypeBool   = "bool"   // true/false; also accepts yes/no/on/off
	TypeInt    = "int"    // decimal integer, within Min and Max
	TypePort   = "port"   // TCP port 1-65535, within Min and Max
	TypeString = "string" // one line, no control characters, matching Pattern
	TypeText   = "text"   // several lines allowed, no NUL
	TypeEnum   = "enum"   // one of Choices
	TypeSecret = "secret" // like string; never echoed in errors
	// TypeDuration: a duration of whole seconds like 30s, 90m, 2h (Go's
	// syntax), kept in short form; "" or "0": none.
	TypeDuration = "duration"
	// TypeTime: an absolute time, RFC 3339, kept in UTC; +DURATION is
	// from now, made absolute when set; "" none; never in the past.
	TypeTime = "time"
)

// Size limits of option values, in bytes.
const (
	MaxStringLen = 4096      // string, secret and enum values
	MaxTextLen   = 64 * 1024 // text values
)

// Charsets of generated secrets, the values of Generate.Charset.
var charsets = map[string]string{
	"alnum":   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"alpha":   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	"digits":  "0123456789",
	"hex":     "0123456789abcdef",
	"urlsafe": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
}

// Limits and defaults of Generate.
const (
	DefaultSecretLength  = 24
	DefaultSecretCharset = "alnum"
	MinSecretLength      = 8
	MaxSecretLength      = 256
)

// Generate says how a secret option's value is generated when the user does
// not set one: Length characters drawn uniformly from Charset (alnum, alpha,
// digits, hex or urlsafe) with crypto/rand.
type Generate struct {
	Length  int    // characters; default 24, 8-256
	Charset string // default "alnum"
}

// Option is one setting of a service, shown in the GUI and set with the
// CLI's set-option. Values travel as strings; Validate parses and normalizes
// them according to Type.
type Option struct {
	Name        string // id, ^[a-z][a-z0-9-]*$, at most 32 characters
	Title       string // name shown in the GUI
	Description string // one line of help
	Type        string // one of the Type* constants
	// Default is the value before the user sets one: bool for bool options,
	// int for int and port, string for the others. Secret options have no
	// default (nil): they are generated (Generate) or set by the user.
	Default any
	// Min and Max bound int and port values, when not nil.
	Min, Max *int
	// Pattern, for string and secret options, is a Go regexp the whole value
	// must match (it is anchored at both ends); for text options, every
	// line that is not empty must match it. Empty: any value.
	Pattern string
	// PatternHelp says in words what Pattern allows, as an instruction to
	// the user ("use 1 to 40 letters..."): a refused value's error shows
	// it, never the pattern. Catalog files must give it with a pattern.
	PatternHelp string
	// Choices are the values of an enum option.
	Choices []string
	// Generate, for secret options, says how to generate the value.
	Generate *Generate
	// ShowInStatus says whether the status command shows the value.
	ShowInStatus bool

	re *regexp.Regexp // compiled Pattern, anchored
}

// The names of the common options, which every service has and no catalog
// file may declare.
const (
	OptPersistence    = "persistence"
	OptAutostart      = "autostart"
	OptAllowLocalhost = "allow-localhost"
	OptAllowLAN       = "allow-lan"
	OptClientAuth     = "client-auth"
)

// CommonOptions returns the options every service has besides its own, in
// display order: persistence (default false: amnesic), autostart (false),
// allow-localhost (true), allow-lan (false), client-auth (true), then the
// protection options pow (true), pow-queue-rate (250), pow-queue-burst
// (2500) and max-streams (DefaultMaxStreams; see Service.Common), and
// balance-master ("": off; balance.go). The slice is new at each call.
func CommonOptions() []Option {
	return append([]Option{
		{Name: OptPersistence, Title: "Persistence", Type: TypeBool, Default: false, ShowInStatus: true,
			Description: "Keep the configuration, the data and the onion address across reboots."},
		{Name: OptAutostart, Title: "Start automatically", Type: TypeBool, Default: false, ShowInStatus: true,
			Description: "Start the service when the tails-server daemon starts."},
		{Name: OptAllowLocalhost, Title: "Allow localhost", Type: TypeBool, Default: true, ShowInStatus: true,
			Description: "Accept connections from this computer, besides those through Tor."},
		{Name: OptAllowLAN, Title: "Allow local network", Type: TypeBool, Default: false, ShowInStatus: true,
			Description: "Accept connections from the local network; this reveals the service to it."},
		{Name: OptClientAuth, Title: "Client authorization", Type: TypeBool, Default: true, ShowInStatus: true,
			Description: "Only clients holding a key can reach the onion; without it, keep the address secret."},
	}, append(protectionOptions(DefaultMaxStreams), balanceOptions()...)...)
}

func isCommonOption(name string) bool {
	for _, o := range CommonOptions() {
		if o.Name == name {
			return true
		}
	}
	return false
}

// Validate parses value according to the option's type and returns it in
// normal form: bool as "true" or "false" (accepting yes/no/on/off, any case),
// int and port in decimal (within Min and Max; a port within 1-65535), enum as
// one of Choices, string and secret as given if they hold one line without
// control characters and match Pattern (a secret must not be empty), text as
// given if it holds no NUL and each of its non-empty lines matches
// Pattern. All values must be valid UTF-8 and within
// MaxStringLen (MaxTextLen for text).
//
// Errors are one line and name the option; they never quote a secret's
// value, and a value that does not match Pattern is told PatternHelp, never
// the pattern itself.
//
// A duration is kept in short form (90m as 1h30m, 0 as ""), a time in
// RFC 3339 UTC (+DURATION from now made absolute); see ValidateAt.
func (o *Option) Validate(value string) (string, error) {
	return o.ValidateAt(value, time.Now())
}

// ValidateAt is Validate with now as the current time, which a time
// option's +DURATION counts from and which it may not be before.
func (o *Option) ValidateAt(value string, now time.Time) (string, error) {
	show := func() string {
		if o.Type == TypeSecret {
			return "value"
		}
		return "value " + quoteShort(value)
	}
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("option %q: %s", o.Name, fmt.Sprintf(format, args...))
	}
	limit := MaxStringLen
	if o.Type == TypeText {
		limit = MaxTextLen
	}
	if len(value) > limit {
		return fail("value longer than %d bytes", limit)
	}
	if !utf8.ValidString(value) {
		return fail("value is not valid UTF-8")
	}
	switch o.Type {
	case TypeBool:
		switch strings.ToLower(value) {
		case "true", "yes", "on":
			return "true", nil
		case "false", "no", "off":
			return "false", nil
		}
		return fail("%s is not a boolean (true/false, yes/no, on/off)", show())
	case TypeInt, TypePort:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fail("%s is not a decimal integer", show())
		}
		if o.Type == TypePort && (n < 1 || n > 65535) {
			return fail("port %d out of range 1-65535", n)
		}
		if o.Min != nil && n < *o.Min {
			return fail("%d is below the minimum %d", n, *o.Min)
		}
		if o.Max != nil && n > *o.Max {
			return fail("%d is above the maximum %d", n, *o.Max)
		}
		return strconv.Itoa(n), nil
	case TypeEnum:
		for _, c := range o.Choices {
			if value == c {
				return value, nil
			}
		}
		return fail("%s is not one of %s", show(), strings.Join(o.Choices, ", "))
	case TypeString, TypeSecret:
		if o.Type == TypeSecret && value == "" {
			return fail("empty secret")
		}
		for _, r := range value {
			if r == '\n' || r == '\r' {
				return fail("%s must be a single line", show())
			}
			if unicode.IsControl(r) {
				return fail("%s contains a control character", show())
			}
		}
		if o.Pattern != "" {
			re, err := o.regexp()
			if err != nil {
				return fail("%v", err)
			}
			if !re.MatchString(value) {
				return fail("%s is not valid: %s", show(), o.rule())
			}
		}
		return value, nil
	case TypeText:
		if strings.IndexByte(value, 0) >= 0 {
			return fail("value contains a NUL byte")
		}
		if o.Pattern != "" {
			return o.validateLines(value)
		}
		return value, nil
	case TypeDuration:
		d, err := ParseDuration(value)
		if err != nil {
			return fail("%v", err)
		}
		return FormatDuration(d), nil
	case TypeTime:
		v, err := o.validateTime(value, now)
		if err != nil {
			return fail("%v", err)
		}
		return v, nil
	}
	return fail("unknown type %q", o.Type)
}

// rule is what a refusal of a value that does not match Pattern says:
// PatternHelp, or, for an option built in code without one, a pointer to
// its description. Never the pattern: users do not read regexps.
func (o *Option) rule() string {
	if o.PatternHelp != "" {
		return o.PatternHelp
	}
	return "see the option's description for the values it takes"
}

// regexp returns the compiled, anchored Pattern: the one compiled at load
// (Validate never writes to o, so it is safe for concurrent use), or a
// fresh one for options built in code.
func (o *Option) regexp() (*regexp.Regexp, error) {
	if o.re != nil {
		return o.re, nil
	}
	if _, err := regexp.Compile(o.Pattern); err != nil {
		return nil, fmt.Errorf("bad pattern: %v", firstLine(err.Error()))
	}
	re, err := regexp.Compile(`^(?:` + o.Pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %v", firstLine(err.Error()))
	}
	return re, nil
}

// GenerateSecret returns a new random value for a secret option, drawn with
// crypto/rand from Generate's charset. It fails for options that are not
// secrets or have no Generate.
func (o *Option) GenerateSecret() (string, error) {
	if o.Type != TypeSecret || o.Generate == nil {
		return "", fmt.Errorf("option %q: not a generated secret", o.Name)
	}
	length, cs := o.Generate.Length, o.Generate.Charset
	if length == 0 {
		length = DefaultSecretLength
	}
	if cs == "" {
		cs = DefaultSecretCharset
	}
	alphabet, ok := charsets[cs]
	if !ok {
		return "", fmt.Errorf("option %q: unknown charset %q", o.Name, cs)
	}
	if length < MinSecretLength || length > MaxSecretLength {
		return "", fmt.Errorf("option %q: secret length %d out of range %d-%d", o.Name, length, MinSecretLength, MaxSecretLength)
	}
	return randomString(length, alphabet)
}

// randomString draws n characters uniformly from alphabet (at most 256
// characters) by rejection sampling.
func randomString(n int, alphabet string) (string, error) {
	if len(alphabet) == 0 || len(alphabet) > 256 {
		return "", errors.New("bad alphabet")
	}
	// Largest multiple of len(alphabet) that fits in a byte: bytes at or
	// above it are rejected so that every character is equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+16)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// quoteShort quotes s for an error message, cut to 40 characters.
func quoteShort(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
