package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/peercred"
	"tails-server/internal/services"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

// fuzzTarget is one request a fuzzed body is sent with.
type fuzzTarget struct {
	method, path string
	option       *catalog.Option // for set-option
}

// FuzzAPIBody sends arbitrary JSON bodies to every API endpoint that reads
// one (set-option on every option of the built-in services but
// persistence, add-client, enable, set-setting), through the real
// handler and a real service manager without tor. No body makes it fail
// with a server error or anything but a JSON answer; a refusal is a
// 4xx with a one-line error; and an accepted option value is the
// option's own normal form of the value sent.
func FuzzAPIBody(f *testing.F) {
	dir := f.TempDir()
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		f.Fatal(err)
	}
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	m, err := services.New(st, services.OneTor{T: noTor{}}, cat, services.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := Handler(&fakeDaemon{m: m}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	targets := []fuzzTarget{
		{"POST", "/services/web/clients", nil},
		{"POST", "/services/nosuch/enable", nil},
		{"PUT", "/settings/tor-mode", nil},
		{"PUT", "/services/web/options/nosuch", nil},
	}
	for _, name := range cat.Names() {
		s, _ := cat.Get(name)
		for _, o := range append(catalog.CommonOptions(), s.Options...) {
			if o.Name != catalog.OptPersistence {
				targets = append(targets, fuzzTarget{"PUT", "/services/" + name + "/options/" + o.Name, &o})
			}
		}
	}
	for i, body := range []string{`{"name":"alice"}`, `{"wait_ns":1000}`, `{"value":"tor"}`, `{"value":"x"}`,
		`{"value":"true"}`, `{"value":"8080"}`, `{"value":"line\nbreak"}`, `{"value":"\u0000"}`, `{"value":1}`,
		`{"value":"a","extra":1}`, `{"value":"a"}{"value":"b"}`, `[]`, `null`, ``, `{"name":"` + strings.Repeat("a", 40) + `"}`,
		`{"wait_ns":-1}`, `{"onion_key":"ED25519-V3:AAAA"}`} {
		f.Add(uint16(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, which uint16, body []byte) {
		tg := targets[int(which)%len(targets)]
		req := httptest.NewRequest(tg.method, "http://"+apitype.Host+apitype.Version+tg.path, bytes.NewReader(body))
		req.Host = apitype.Host
		// As the CLI of root would come, through the socket.
		req = req.WithContext(peercred.NewContext(req.Context(), peercred.Cred{PID: 1, UID: 0, GID: 0}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusForbidden {
			// Root through the socket is never refused: a 403 here means
			// the request never reached the handlers under test.
			t.Fatalf("%s %s %q: refused: %s", tg.method, tg.path, body, w.Body)
		}
		if w.Code >= 500 || w.Code < 200 {
			t.Fatalf("%s %s %q: status %d: %s", tg.method, tg.path, body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s %q: Content-Type %q", tg.method, tg.path, body, ct)
		}
		if w.Code >= 300 {
			var e apitype.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || strings.ContainsAny(e.Error, "\r\n") {
				t.Fatalf("%s %s %q: refusal %d is not a one-line JSON error: %s", tg.method, tg.path, body, w.Code, w.Body)
			}
			return
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s %q: answer is not JSON: %s", tg.method, tg.path, body, w.Body)
		}
		if tg.option == nil || tg.option.Type == catalog.TypeSecret {
			return
		}
		var sent apitype.SetOptionRequest
		if len(bytes.TrimSpace(body)) == 0 {
			// No body is the zero request.
		} else if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("%s: accepted a body encoding/json refuses: %q", tg.path, body)
		}
		norm, err := tg.option.Validate(sent.Value)
		var res apitype.SetOptionResult
		if err != nil || json.Unmarshal(w.Body.Bytes(), &res) != nil || res.Option.Value != norm {
			t.Fatalf("%s: sent %q, set to %q (the option's own check: %q, %v)", tg.path, sent.Value, res.Option.Value, norm, err)
		}
	})
}
