package e2e

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// TestHostileValuesEveryFormat sets option values built to break out of a
// config file (newline, quotes, template and shell syntax, a NUL) on a
// service whose backend reads them back with real consumers: sh sources
// a shell file, lua5.4 runs a Lua file, php includes a PHP file, lighttpd
// parses its conf and sends the value as a header; the YAML and XML
// files are parsed here. Each value is either refused with a one-line
// error that leaves the old value and config in place, or it lands
// escaped: the backend starts, reads back exactly the value, the file
// keeps its directives, and nothing ran.
func TestHostileValuesEveryFormat(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "lighttpd")
	testenv.RequireProgram(t, "lua5.4")
	testenv.RequireProgram(t, "php")
	tmp := backendTempDir(t)
	catDir := filepath.Join(tmp, "catalog.d")
	os.MkdirAll(catDir, 0o755)
	desc, err := os.ReadFile("testdata/formats/formats.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(catDir, "formats.yaml"), desc, 0o644)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--catalog", catDir)
	if out := d.mustCLI("enable", "formats", "--wait", "240s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable formats:\n%s", out)
	}
	c := client.New(d.socket)
	ctx := context.Background()
	svc := d.service("formats")
	config := filepath.Join(svc.Details.DataDir, "config")
	mark := filepath.Join(tmp, "pwned")

	// read returns what the backend (or the parser here) read for a format.
	read := func(format string) (string, error) {
		local := "http://" + d.service("formats").Details.LocalAddress
		switch format {
		case "shell", "lua", "php":
			resp, err := http.Get(local + "/" + format)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		case "conf":
			resp, err := http.Get(local + "/shell")
			if err != nil {
				return "", err
			}
			resp.Body.Close()
			if len(resp.Header.Values("X-Value")) != 1 {
				return "", fmt.Errorf("X-Value headers %q", resp.Header.Values("X-Value"))
			}
			return resp.Header.Get("X-Value"), nil
		case "yaml":
			var v map[string]any
			b, err := os.ReadFile(filepath.Join(config, "value.yaml"))
			if err == nil {
				err = yaml.Unmarshal(b, &v)
			}
			if err != nil || len(v) != 2 || v["other"] != 1 {
				return "", fmt.Errorf("value.yaml: %v, keys %v\n%s", err, v, b)
			}
			s, _ := v["value"].(string)
			return s, nil
		case "xml":
			var v struct {
				Value []string `xml:"value"`
				Other []string `xml:"other"`
			}
			b, err := os.ReadFile(filepath.Join(config, "value.xml"))
			if err == nil {
				err = xml.Unmarshal(b, &v)
			}
			if err != nil || len(v.Value) != 1 || len(v.Other) != 1 {
				return "", fmt.Errorf("value.xml: %v, %+v\n%s", err, v, b)
			}
			return v.Value[0], nil
		}
		return "", errors.New("unknown format " + format)
	}
	// lighttpd's own parser must accept the conf and keep its directives.
	confDirectives := func() int {
		out, err := exec.Command("lighttpd", "-tt", "-f", filepath.Join(config, "lighttpd.conf")).CombinedOutput()
		if err != nil {
			t.Fatalf("lighttpd -tt: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(filepath.Join(config, "lighttpd.conf"))
		return strings.Count(string(b), "\n")
	}
	plainConf := confDirectives()

	values := []string{
		"new\nline\nvalue = \"evil\"", `dq"; evil = "1`, "sq'x'; touch " + mark + "; '", "{{.option.shell}}", "}}{{",
		"$(touch " + mark + ")", "`touch " + mark + "`", "${HOME}", "a;b # c", `]]..os.execute("touch ` + mark + `")..[[`,
		`"..os.execute("touch ` + mark + `").."`, "</value><value>2</value>", "a&amp;b<!--", "nul\x00x",
		`back\slash\`, "ünïcødé ☃", "\ncr\r\n",
	}
	for _, format := range []string{"shell", "lua", "conf", "yaml", "xml", "php"} {
		t.Run(format, func(t *testing.T) {
			refused := 0
			for _, v := range values {
				_, err := c.SetOption(ctx, "formats", format, v)
				if err != nil {
					// Refused: one line, the value not echoed, nothing changed.
					if strings.Contains(err.Error(), "\n") || (len(v) > 4 && strings.Contains(err.Error(), v)) {
						t.Errorf("%q: refusal is not one line without the value: %q", v, err)
					}
					if got, rerr := read(format); rerr != nil || got != "plain" {
						t.Errorf("%q refused, but the backend now reads %q (%v), want the old value", v, got, rerr)
					}
					refused++
					continue
				}
				got, err := read(format)
				if err != nil || got != v {
					t.Errorf("%q: backend read %q (%v)", v, got, err)
				}
				if n := confDirectives(); n != plainConf {
					t.Errorf("%q: lighttpd.conf has %d lines, want %d", v, n, plainConf)
				}
				if _, err := os.Stat(mark); err == nil {
					t.Fatalf("%q ran a command", v)
				}
				if _, err := c.SetOption(ctx, "formats", format, "plain"); err != nil {
					t.Fatalf("back to plain: %v", err)
				}
			}
			t.Logf("%s: %d values landed escaped and read back intact, %d refused", format, len(values)-refused, refused)
		})
	}

	// And the whole thing is still served through its onion.
	addr := d.service("formats").OnionAddress
	d.mustCLI("client", "add", "formats", "ann")
	ann := newOnionClient(t, "ann", strings.TrimSpace(d.mustCLI("client", "show", "formats", "ann", "--format", "auth-private")))
	waitFor(t, 90*time.Second, "formats through its onion", func() error {
		got, err := ann.curl("http://" + addr + "/lua")
		if err == nil && got != "plain" {
			err = fmt.Errorf("got %q", got)
		}
		return err
	})
}
