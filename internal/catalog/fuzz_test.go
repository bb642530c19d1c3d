package catalog

import (
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	catalogfs "tails-server/services"
)

// fuzzNameRE finds the service name in a description, so that the file
// can carry that name (a description must be named like its file).
var fuzzNameRE = regexp.MustCompile(`(?m)^name:\s*([a-z][a-z0-9-]{0,31})\s*$`)

// fuzzBreakout is set on every string and text option a fuzzed
// description declares: once rendered, no line of a file may start with
// its second line.
const fuzzBreakout = "x\" 'y\ninjected = 1\n]]..x..[["

// FuzzServiceDescription: decoding a service description never panics;
// every error is a one-line *LoadError naming the file; and every
// description accepted renders each of its config files, with the
// defaults and with a line-breaking value in every string option,
// without panicking and without the value's second line becoming a line
// of the file.
func FuzzServiceDescription(f *testing.F) {
	builtin := fstest.MapFS{}
	err := fs.WalkDir(catalogfs.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := catalogfs.FS.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".yaml") {
			f.Add(data)
		} else {
			builtin[p] = &fstest.MapFile{Data: data}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("name: x\ntitle: X\ndescription: d\nbackend: {builtin: web}\nonion_ports: [{port: 80}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		name := "fuzz"
		if m := fuzzNameRE.FindSubmatch(data); m != nil {
			name = string(m[1])
		}
		fsys := fstest.MapFS{name + ".yaml": {Data: data}}
		for k, v := range builtin {
			fsys[k] = v
		}
		s, _, errs := loadFile(fsys, name+".yaml", "fuzz/"+name+".yaml")
		if len(errs) > 0 {
			for _, err := range errs {
				var le *LoadError
				if !errors.As(err, &le) || le.File != "fuzz/"+name+".yaml" {
					t.Fatalf("error %v (%T) does not name the file", err, err)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Fatalf("error on several lines: %q", err)
				}
			}
			return
		}
		if s == nil || s.Name != name {
			t.Fatalf("accepted without a service named %q: %+v", name, s)
		}
		hostile := map[string]string{}
		for _, o := range s.Options {
			if o.Type != TypeString && o.Type != TypeText && o.Type != TypeSecret {
				continue
			}
			if v, err := o.Validate(fuzzBreakout); err == nil {
				hostile[o.Name] = v
			}
		}
		for _, cf := range s.ConfigFiles {
			// The load dry-ran every template with the defaults.
			if _, err := RenderConfig(s, cf, nil, standIn); err != nil {
				t.Fatalf("%s: accepted, but does not render with the defaults: %v", cf.Path, err)
			}
			out, err := RenderConfig(s, cf, hostile, standIn)
			if err != nil {
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Fatalf("%s: render error on several lines: %q", cf.Path, err)
				}
				continue
			}
			if cf.Format == "shell" {
				continue // '...' keeps line breaks, as sh reads them
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(strings.TrimLeft(l, " \t\r"), "injected = 1") && !strings.Contains(cf.Template, "injected = 1") {
					t.Fatalf("%s (%s): a value broke out of its string:\n%s", cf.Path, cf.Format, out)
				}
			}
		}
		// Command templates run with real values too.
		for _, a := range append(append([]string{}, s.Backend.Command...), s.Hooks.PreStart...) {
			Expand(s, a, hostile, standIn, nil)
		}
	})
}
