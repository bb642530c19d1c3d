package catalog

import (
	"strings"
	"testing"
)

func intp(i int) *int { return &i }

func TestValidate(t *testing.T) {
	boolOpt := &Option{Name: "b", Type: TypeBool}
	intOpt := &Option{Name: "n", Type: TypeInt, Min: intp(-5), Max: intp(10)}
	portOpt := &Option{Name: "p", Type: TypePort, Min: intp(1024)}
	enumOpt := &Option{Name: "e", Type: TypeEnum, Choices: []string{"low", "high"}}
	strOpt := &Option{Name: "s", Type: TypeString, Pattern: `[a-z]+(-[a-z]+)*`}
	freeStr := &Option{Name: "f", Type: TypeString}
	textOpt := &Option{Name: "t", Type: TypeText}
	secretOpt := &Option{Name: "pw", Type: TypeSecret, Pattern: `[A-Za-z0-9]{8,}`, PatternHelp: "use at least 8 letters or digits"}
	strHelp := &Option{Name: "h", Type: TypeString, Pattern: `[a-z]+(-[a-z]+)*`, PatternHelp: "use lower-case words joined by '-'"}
	tests := []struct {
		opt     *Option
		in      string
		want    string // normalized value, when wantErr is empty
		wantErr string // part of the error
	}{
		{boolOpt, "true", "true", ""},
		{boolOpt, "YES", "true", ""},
		{boolOpt, "on", "true", ""},
		{boolOpt, "False", "false", ""},
		{boolOpt, "no", "false", ""},
		{boolOpt, "off", "false", ""},
		{boolOpt, "1", "", `option "b": value "1" is not a boolean`},
		{boolOpt, "", "", "is not a boolean"},
		{intOpt, "7", "7", ""},
		{intOpt, "-5", "-5", ""},
		{intOpt, "+3", "3", ""},
		{intOpt, "11", "", `option "n": 11 is above the maximum 10`},
		{intOpt, "-6", "", "is below the minimum -5"},
		{intOpt, "1.5", "", "is not a decimal integer"},
		{intOpt, "0x10", "", "is not a decimal integer"},
		{intOpt, " 3", "", "is not a decimal integer"},
		{intOpt, "99999999999999999999999", "", "is not a decimal integer"},
		{portOpt, "8080", "8080", ""},
		{portOpt, "65535", "65535", ""},
		{portOpt, "65536", "", "out of range 1-65535"},
		{portOpt, "0", "", "out of range 1-65535"},
		{portOpt, "80", "", "below the minimum 1024"},
		{enumOpt, "low", "low", ""},
		{enumOpt, "Low", "", `value "Low" is not one of low, high`},
		{enumOpt, "medium", "", "is not one of"},
		{strOpt, "hello-world", "hello-world", ""},
		{strOpt, "hello world", "", `value "hello world" is not valid: see the option's description`},
		{strHelp, "Hello", "", `option "h": value "Hello" is not valid: use lower-case words joined by '-'`},
		{strOpt, "xhello\n", "", "must be a single line"},
		{strOpt, "", "", "is not valid"},
		{freeStr, "", "", ""},
		{freeStr, "Ünïcode ok", "Ünïcode ok", ""},
		{freeStr, "a\nb", "", "single line"},
		{freeStr, "a\rb", "", "single line"},
		{freeStr, "a\x00b", "", "control character"},
		{freeStr, "a\tb", "", "control character"},
		{freeStr, "a\x1bb", "", "control character"},
		{freeStr, "\xff", "", "not valid UTF-8"},
		{freeStr, strings.Repeat("a", MaxStringLen+1), "", "longer than 4096 bytes"},
		{textOpt, "line 1\nline 2\n\ttabbed", "line 1\nline 2\n\ttabbed", ""},
		{textOpt, "a\x00b", "", "NUL"},
		{textOpt, strings.Repeat("a", MaxTextLen+1), "", "longer than"},
		{secretOpt, "Sup3rSecretValue", "Sup3rSecretValue", ""},
		{secretOpt, "", "", "empty secret"},
		{secretOpt, "short", "", "value is not valid: use at least 8 letters or digits"},
		{secretOpt, "hunter2-is-my\npassword", "", "value must be a single line"},
		{secretOpt, "hunter2\x00password", "", "value contains a control character"},
	}
	for _, tt := range tests {
		got, err := tt.opt.Validate(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s.Validate(%q): %v", tt.opt.Name, tt.in, err)
		case tt.wantErr == "" && got != tt.want:
			t.Errorf("%s.Validate(%q) = %q, want %q", tt.opt.Name, tt.in, got, tt.want)
		case tt.wantErr != "" && err == nil:
			t.Errorf("%s.Validate(%q) = %q, want an error", tt.opt.Name, tt.in, got)
		case tt.wantErr != "":
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) || !strings.HasPrefix(msg, `option "`+tt.opt.Name+`": `) || strings.Contains(msg, "\n") {
				t.Errorf("%s.Validate(%q): error %q, want one line naming the option with %q", tt.opt.Name, tt.in, msg, tt.wantErr)
			}
			if tt.opt.Type == TypeSecret && tt.in != "" && strings.Contains(msg, strings.SplitN(tt.in, "\n", 2)[0][:5]) {
				t.Errorf("error %q echoes the secret", msg)
			}
		}
	}
}

func TestGenerateSecret(t *testing.T) {
	for cs, alphabet := range charsets {
		o := &Option{Name: "pw", Type: TypeSecret, Generate: &Generate{Length: 32, Charset: cs}}
		seen := map[string]bool{}
		for i := 0; i < 50; i++ {
			s, err := o.GenerateSecret()
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != 32 {
				t.Errorf("%s: length %d", cs, len(s))
			}
			if strings.Trim(s, alphabet) != "" {
				t.Errorf("%s: %q has characters outside the charset", cs, s)
			}
			if seen[s] {
				t.Errorf("%s: %q generated twice", cs, s)
			}
			seen[s] = true
			if _, err := o.Validate(s); err != nil {
				t.Errorf("generated secret fails Validate: %v", err)
			}
		}
	}
	// Every character of the charset shows up: no bias to a subset.
	o := &Option{Name: "pw", Type: TypeSecret, Generate: &Generate{Length: 256, Charset: "hex"}}
	s, _ := o.GenerateSecret()
	for _, c := range charsets["hex"] {
		if !strings.ContainsRune(s, c) {
			t.Errorf("%q never drawn in 256 hex characters", c)
		}
	}
	// Defaults: 24 alnum characters.
	o = &Option{Name: "pw", Type: TypeSecret, Generate: &Generate{}}
	if s, err := o.GenerateSecret(); err != nil || len(s) != DefaultSecretLength || strings.Trim(s, charsets["alnum"]) != "" {
		t.Errorf("default generate = %q, %v", s, err)
	}
	for _, bad := range []*Option{
		{Name: "x", Type: TypeString, Generate: &Generate{}},
		{Name: "x", Type: TypeSecret},
		{Name: "x", Type: TypeSecret, Generate: &Generate{Length: 4}},
		{Name: "x", Type: TypeSecret, Generate: &Generate{Charset: "emoji"}},
	} {
		if s, err := bad.GenerateSecret(); err == nil {
			t.Errorf("GenerateSecret(%+v) = %q, want an error", bad, s)
		}
	}
}

func TestCommonOptions(t *testing.T) {
	want := map[string]any{
		OptPersistence: false, OptAutostart: false, OptAllowLocalhost: true,
		OptAllowLAN: false, OptClientAuth: true, OptPoW: true,
		OptPoWQueueRate: 250, OptPoWQueueBurst: 2500, OptMaxStreams: DefaultMaxStreams,
		OptBalanceMaster: "",
	}
	opts := CommonOptions()
	if len(opts) != len(want) {
		t.Fatalf("%d common options", len(opts))
	}
	for _, o := range opts {
		def, ok := want[o.Name]
		if !ok || o.Default != def || o.Title == "" || o.Description == "" {
			t.Errorf("common option %+v", o)
		}
		if _, isBool := def.(bool); isBool != (o.Type == TypeBool) {
			t.Errorf("common option %s has type %s", o.Name, o.Type)
		}
		v := "yes"
		switch {
		case o.Type == TypeInt:
			v = "1"
		case o.Type == TypeString:
			v = ""
		}
		if _, err := o.Validate(v); err != nil {
			t.Error(err)
		}
	}
	opts[0].Name = "changed"
	if CommonOptions()[0].Name != OptPersistence {
		t.Error("CommonOptions shares its slice")
	}
}

func TestBalanceMasterOption(t *testing.T) {
	o, ok := commonOption(OptBalanceMaster)
	if !ok {
		t.Fatal("no balance-master option")
	}
	addr := strings.Repeat("a", 56)
	for _, good := range []string{"", addr, addr + ".onion", strings.ToUpper(addr) + ".ONION"} {
		if _, err := o.Validate(good); err != nil {
			t.Errorf("Validate(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"example.com", addr[:55], addr + "1", addr + ".onion\nHiddenServiceDir /", "x.onion"} {
		if _, err := o.Validate(bad); err == nil {
			t.Errorf("Validate(%q) accepted", bad)
		}
	}
}
