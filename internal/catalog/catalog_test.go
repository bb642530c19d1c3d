package catalog

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"tails-server/internal/render"
	"tails-server/internal/testenv"
	catalogfs "tails-server/services"
)

// errsByFile groups load errors by the base name of their file.
func errsByFile(t *testing.T, errs []error) map[string][]*LoadError {
	t.Helper()
	m := map[string][]*LoadError{}
	for _, err := range errs {
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("error %v (%T) is not a *LoadError", err, err)
		}
		m[filepath.Base(le.File)] = append(m[filepath.Base(le.File)], le)
	}
	return m
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file   string
		prefix string // exact "file:line: " start of the error
		want   string // part of the message
	}{
		{"unknown-key.yaml", "testdata/bad/unknown-key.yaml:8: ", "unknown key \"colour\""},
		{"duplicate-key.yaml", "testdata/bad/duplicate-key.yaml:3: ", "duplicate key \"title\" (first at line 2)"},
		{"duplicate-option-key.yaml", "testdata/bad/duplicate-option-key.yaml:12: ", "duplicate key \"type\""},
		{"max-streams-range.yaml", "testdata/bad/max-streams-range.yaml:9: ", "max_streams: 0 out of range 1-65535"},
		{"missing-title.yaml", "testdata/bad/missing-title.yaml:1: ", "missing title"},
		{"bad-name-regex.yaml", "testdata/bad/bad-name-regex.yaml:1: ", "must match"},
		{"name-mismatch.yaml", "testdata/bad/name-mismatch.yaml:1: ", "differs from the file name"},
		{"not-a-mapping.yaml", "testdata/bad/not-a-mapping.yaml:1: ", "service must be a mapping"},
		{"syntax.yaml", "testdata/bad/syntax.yaml:2: ", "yaml:"},
		{"empty.yaml", "testdata/bad/empty.yaml: ", "empty file"},
		{"two-docs.yaml", "testdata/bad/two-docs.yaml:8: ", "more than one YAML document"},
		{"alias.yaml", "testdata/bad/alias.yaml:3: ", "aliases"},
		{"bad-package.yaml", "testdata/bad/bad-package.yaml:8: ", "\"Foo_Bar\" is not a Debian package name"},
		{"shell-command.yaml", "testdata/bad/shell-command.yaml:5: ", "not a shell string"},
		{"backend-both.yaml", "testdata/bad/backend-both.yaml:5: ", "not both"},
		{"backend-unknown.yaml", "testdata/bad/backend-unknown.yaml:5: ", "unknown builtin backend \"ftp\""},
		{"user-root.yaml", "testdata/bad/user-root.yaml:6: ", "never runs as root"},
		{"user-missing.yaml", "testdata/bad/user-missing.yaml:5: ", "backend: missing user"},
		{"builtin-user.yaml", "testdata/bad/builtin-user.yaml:6: ", "applies only to a command backend"},
		{"low-port.yaml", "testdata/bad/low-port.yaml:9: ", "needs root"},
		{"bad-port.yaml", "testdata/bad/bad-port.yaml:9: ", "\"many\" is not an integer"},
		{"onion-target.yaml", "testdata/bad/onion-target.yaml:8: ", "no local port named \"admin\""},
		{"onion-virtual-range.yaml", "testdata/bad/onion-virtual-range.yaml:7: ", "out of range 1-65535"},
		{"onion-missing.yaml", "testdata/bad/onion-missing.yaml:1: ", "missing onion_ports"},
		{"persist-dotdot.yaml", "testdata/bad/persist-dotdot.yaml:9: ", "leaves its directory"},
		{"persist-abs.yaml", "testdata/bad/persist-abs.yaml:9: ", "must be relative"},
		{"icon-missing.yaml", "testdata/bad/icon-missing.yaml:8: ", "cannot read nope.svg"},
		{"option-dup.yaml", "testdata/bad/option-dup.yaml:12: ", "option \"a\" is declared twice (first at line 9)"},
		{"option-common.yaml", "testdata/bad/option-common.yaml:9: ", "common to every service"},
		{"option-bad-name.yaml", "testdata/bad/option-bad-name.yaml:9: ", "name must match"},
		{"option-bad-type.yaml", "testdata/bad/option-bad-type.yaml:11: ", "unknown type \"float\""},
		{"option-default-int.yaml", "testdata/bad/option-default-int.yaml:12: ", "bad default: value \"abc\" is not a decimal integer"},
		{"option-default-range.yaml", "testdata/bad/option-default-range.yaml:14: ", "bad default: 20 is above the maximum 10"},
		{"option-int-no-default.yaml", "testdata/bad/option-int-no-default.yaml:9: ", "missing default"},
		{"option-default-bool.yaml", "testdata/bad/option-default-bool.yaml:12: ", "is not a boolean"},
		{"option-pattern.yaml", "testdata/bad/option-pattern.yaml:12: ", "bad pattern"},
		{"option-pattern-default.yaml", "testdata/bad/option-pattern-default.yaml:13: ", `bad default: value "ABC" is not valid: use lower-case letters a-z`},
		{"option-pattern-no-help.yaml", "testdata/bad/option-pattern-no-help.yaml:13: ", `option "s": a pattern needs a pattern_help`},
		{"option-pattern-help-alone.yaml", "testdata/bad/option-pattern-help-alone.yaml:12: ", "pattern_help applies only with a pattern"},
		{"option-pattern-help-regex.yaml", "testdata/bad/option-pattern-help-regex.yaml:14: ", "pattern_help repeats the pattern"},
		{"usable-unknown-option.yaml", "testdata/bad/usable-unknown-option.yaml:17: ", `usable_when[0].any_of: the service has no option "pasword-login" (its options: keys, port)`},
		{"usable-type.yaml", "testdata/bad/usable-type.yaml:19: ", `option "port" is of type int; only bool, string, text, secret options`},
		{"usable-no-warning.yaml", "testdata/bad/usable-no-warning.yaml:17: ", "usable_when[0]: missing warning"},
		{"usable-empty.yaml", "testdata/bad/usable-empty.yaml:17: ", "usable_when[0].any_of is empty"},
		{"usable-not-list.yaml", "testdata/bad/usable-not-list.yaml:17: ", "usable_when must be a list"},
		{"option-enum-default.yaml", "testdata/bad/option-enum-default.yaml:13: ", "is not one of low, high"},
		{"connect-detail-both.yaml", "testdata/bad/connect-detail-both.yaml:10: ", "set exactly one of value and file"},
		{"connect-detail-option.yaml", "testdata/bad/connect-detail-option.yaml:11: ", "nope"},
		{"option-enum-no-choices.yaml", "testdata/bad/option-enum-no-choices.yaml:9: ", "an enum needs choices"},
		{"option-min-on-string.yaml", "testdata/bad/option-min-on-string.yaml:12: ", "min applies only to int and port options"},
		{"option-secret-default.yaml", "testdata/bad/option-secret-default.yaml:12: ", "a secret has no default"},
		{"option-generate-charset.yaml", "testdata/bad/option-generate-charset.yaml:12: ", "unknown charset \"emoji\""},
		{"option-generate-pattern.yaml", "testdata/bad/option-generate-pattern.yaml:9: ", "generated values do not match the pattern"},
		{"option-unknown-key.yaml", "testdata/bad/option-unknown-key.yaml:12: ", "unknown key \"hidden\""},
		{"config-abs.yaml", "testdata/bad/config-abs.yaml:10: ", "must be relative, not absolute"},
		{"config-dotdot.yaml", "testdata/bad/config-dotdot.yaml:10: ", "leaves its directory"},
		{"config-format.yaml", "testdata/bad/config-format.yaml:11: ", "unknown format \"toml\""},
		{"config-template-file-missing.yaml", "testdata/bad/config-template-file-missing.yaml:12: ", "cannot read nope.tmpl"},
		{"config-template-both.yaml", "testdata/bad/config-template-both.yaml:13: ", "not both"},
		{"config-template-parse.yaml", "testdata/bad/config-template-parse.yaml:12: ", "bad template: template line 3: unclosed action started at template line 2"},
		{"config-template-option.yaml", "testdata/bad/config-template-option.yaml:12: ", "value of .option.nope is missing"},
		{"config-template-raw.yaml", "testdata/bad/config-template-raw.yaml:12: ", "without an escaper"},
		{"config-template-func.yaml", "testdata/bad/config-template-func.yaml:12: ", "function \"shell\" not defined"},
		{"config-mode.yaml", "testdata/bad/config-mode.yaml:13: ", "world-writable"},
		{"config-mode-bad.yaml", "testdata/bad/config-mode-bad.yaml:13: ", "not an octal mode"},
		{"config-dup.yaml", "testdata/bad/config-dup.yaml:13: ", "config file \"a.conf\" is declared twice (first at line 10)"},
		{"command-template.yaml", "testdata/bad/command-template.yaml:5: ", "no local port named \"admin\""},
		{"health-two.yaml", "testdata/bad/health-two.yaml:9: ", "exactly one of tcp, http and command"},
		{"health-timeout.yaml", "testdata/bad/health-timeout.yaml:10: ", "is not a duration"},
		{"health-http-path.yaml", "testdata/bad/health-http-path.yaml:9: ", "must start with /"},
		{"connect-uri.yaml", "testdata/bad/connect-uri.yaml:9: ", "map has no entry for key \"adress\""},
		{"connect-instruction.yaml", "testdata/bad/connect-instruction.yaml:12: ", "connect.instructions[0].text: bad template: template line 1: executing \"template\" at <.adress>: map has no entry for key \"adress\""},
		{"hooks-shell.yaml", "testdata/bad/hooks-shell.yaml:10: ", "not a shell string"},
		{"documentation-url.yaml", "testdata/bad/documentation-url.yaml:8: ", "is not an http(s) URL"},
		{"description-lines.yaml", "testdata/bad/description-lines.yaml:3: ", "must be a single line"},
	}
	cat, errs := Load(nil, "testdata/bad")
	if names := cat.Names(); len(names) != 0 {
		t.Errorf("bad files loaded: %v", names)
	}
	byFile := errsByFile(t, errs)
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/bad, %d test cases", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := byFile[tt.file]
			if len(got) == 0 {
				t.Fatalf("no error")
			}
			msg := got[0].Error()
			if !strings.HasPrefix(msg, tt.prefix) || !strings.Contains(msg, tt.want) {
				t.Errorf("got  %s\nwant %s...%s...", msg, tt.prefix, tt.want)
			}
			for _, e := range got {
				if strings.Contains(e.Error(), "\n") {
					t.Errorf("error is not one line: %q", e.Error())
				}
			}
			if len(got) > 1 {
				t.Logf("further errors: %v", got[1:])
			}
		})
	}
}

func TestBuiltinCatalogLoads(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	for _, err := range errs {
		t.Error(err)
	}
	// Other built-ins come and go; these two are always there.
	if got := " " + strings.Join(cat.Names(), " ") + " "; !strings.Contains(got, " lighttpd ") || !strings.Contains(got, " web ") {
		t.Errorf("Names() = %q", got)
	}
	web, ok := cat.Get("web")
	if !ok || web.Backend.Builtin != BuiltinWeb || web.Source != "builtin:web.yaml" || len(web.IconSVG()) == 0 {
		t.Fatalf("web = %+v", web)
	}
	lt, _ := cat.Get("lighttpd")
	if lt.Backend.User == "" || len(lt.ConfigFiles) != 1 || lt.ConfigFiles[0].Template == "" || lt.Health.HTTP == nil {
		t.Errorf("lighttpd = %+v", lt)
	}
	if _, ok := lt.Option("document-root"); !ok {
		t.Errorf("lighttpd has no document-root option")
	}
}

func TestGoodFile(t *testing.T) {
	cat, errs := Load(nil, "testdata/good")
	for _, err := range errs {
		t.Fatal(err)
	}
	s, ok := cat.Get("gobby")
	if !ok {
		t.Fatal("gobby not loaded")
	}
	if s.Source != filepath.Join("testdata/good", "gobby.yaml") {
		t.Errorf("Source = %q", s.Source)
	}
	if s.LocalPort != 0 || len(s.OnionPorts) != 1 || s.OnionPorts[0] != (OnionPort{Virtual: 6523, Target: "local"}) {
		t.Errorf("ports: local %d, onion %+v", s.LocalPort, s.OnionPorts)
	}
	if s.Health.TCP != true || s.Health.Timeout != 5*time.Second {
		t.Errorf("health = %+v", s.Health)
	}
	if cf := s.ConfigFiles[0]; cf.Mode != 0o600 || cf.TemplateFile != "infinoted.conf.tmpl" || !strings.Contains(cf.Template, "password=") {
		t.Errorf("config file = %+v", cf)
	}
	max, _ := s.Option("max-users")
	if max.Default != 10 || *max.Min != 1 || *max.Max != 100 {
		t.Errorf("max-users = %+v", max)
	}
	level, _ := s.Option("log-level")
	if level.Default != "error" {
		t.Errorf("enum default = %v, want the first choice", level.Default)
	}
	pw, _ := s.Option("password")
	if pw.Default != nil || pw.Generate == nil || pw.Generate.Length != 20 {
		t.Errorf("password = %+v", pw)
	}
}

func TestBadFileAmongGood(t *testing.T) {
	cat, errs := Load(catalogfs.FS, "testdata/bad", "testdata/good")
	if len(errs) == 0 {
		t.Fatal("no errors from testdata/bad")
	}
	for _, name := range []string{"web", "lighttpd", "gobby"} {
		if _, ok := cat.Get(name); !ok {
			t.Errorf("%s not loaded next to bad files", name)
		}
	}
}

func TestOverrideBuiltinRefused(t *testing.T) {
	cat, errs := Load(catalogfs.FS, "testdata/override")
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want one", errs)
	}
	want := "testdata/override/web.yaml:1: service \"web\" is built in (builtin:web.yaml); a catalog file may not redefine it"
	if errs[0].Error() != want {
		t.Errorf("got  %s\nwant %s", errs[0], want)
	}
	if s, _ := cat.Get("web"); s.Source != "builtin:web.yaml" {
		t.Errorf("web came from %s", s.Source)
	}
}

func TestDuplicateAcrossDirs(t *testing.T) {
	_, errs := Load(nil, "testdata/good", "testdata/again")
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "testdata/again/gobby.yaml:2: service \"gobby\" is already defined in testdata/good/gobby.yaml") {
		t.Errorf("errors = %v", errs)
	}
}

func TestMissingDirIsNotAnError(t *testing.T) {
	cat, errs := Load(nil, "testdata/no-such-dir")
	if len(errs) != 0 || len(cat.Names()) != 0 {
		t.Errorf("got %v, %v", cat.Names(), errs)
	}
}

func TestFileTooLarge(t *testing.T) {
	fsys := fstest.MapFS{"big.yaml": {Data: []byte("# " + strings.Repeat("x", MaxFileSize) + "\n")}}
	_, errs := Load(fsys)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "builtin:big.yaml: big.yaml is larger than") {
		t.Errorf("errors = %v", errs)
	}
}

func TestLoadErrorFormat(t *testing.T) {
	if got := (&LoadError{File: "a.yaml", Line: 3, Msg: "bad"}).Error(); got != "a.yaml:3: bad" {
		t.Error(got)
	}
	if got := (&LoadError{File: "a.yaml", Msg: "bad"}).Error(); got != "a.yaml: bad" {
		t.Error(got)
	}
}

// TestLighttpdConfig renders the built-in lighttpd template with stand-in
// values and has lighttpd check it.
func TestLighttpdConfig(t *testing.T) {
	lighttpd := testenv.RequireProgram(t, "lighttpd")
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, _ := cat.Get("lighttpd")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, _ := render.ParseFormat(s.ConfigFiles[0].Format)
	tpl, err := render.Parse("lighttpd.conf", f, s.ConfigFiles[0].Template)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := tpl.Render(ConfigData(s, nil, Env{Config: dir, Data: dir, Listen: "127.0.0.1", Port: 8080}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lighttpd.conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lighttpd, "-tt", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("lighttpd -tt: %v\n%s\n%s", err, out, conf)
	}
	if strings.Contains(string(out), "WARNING") {
		t.Errorf("lighttpd -tt warns:\n%s", out)
	}
}

// TestDocsExamples keeps docs/services.md honest: its minimal example loads,
// and its lighttpd example is the built-in file, verbatim.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/services.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	_, after, ok := strings.Cut(text, "`/etc/tails-server/catalog.d/gobby.yaml`")
	if !ok {
		t.Fatal("minimal example not found")
	}
	_, block, _ := strings.Cut(after, "```yaml\n")
	block, _, _ = strings.Cut(block, "```\n")
	cat, errs := Load(fstest.MapFS{"gobby.yaml": {Data: []byte(block)}})
	for _, err := range errs {
		t.Errorf("docs example: %v", err)
	}
	if _, ok := cat.Get("gobby"); !ok {
		t.Error("docs example did not load")
	}
	for _, name := range []string{"lighttpd.yaml", "lighttpd.conf.tmpl"} {
		data, err := catalogfs.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "\n"+string(data)+"```\n") {
			t.Errorf("docs/services.md does not show services/%s verbatim", name)
		}
	}
}
