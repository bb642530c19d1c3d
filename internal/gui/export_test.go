package gui

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/onionkey"
	"tails-server/internal/store"
)

// TestGUIMove downloads web's archive from one GUI and imports it through
// another's upload form: preview, then Apply.
func TestGUIMove(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := onionkey.GenerateServiceKey()
	st.Save(&store.Service{Name: "web", Address: k.Address()})
	st.WriteKey("web", k.SecretKeyFile())
	a := serveWithAPIIn(t, dir)

	if code, body := a.post(t, "/services/web/export", url.Values{"passphrase": {"one"}, "passphrase2": {"two"}}); code != http.StatusBadRequest || !strings.Contains(body, "differ") {
		t.Fatalf("passphrases that differ: %d", code)
	}
	form := url.Values{"passphrase": {"moving day"}, "passphrase2": {"moving day"}, "csrf": {a.csrf}}
	req, _ := http.NewRequest(http.MethodPost, a.base+"/services/web/export", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(arch, []byte("age-encryption.org/v1")) ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "tails-server-web.age") {
		t.Fatalf("download: %s %q %.40q", resp.Status, resp.Header.Get("Content-Disposition"), arch)
	}

	b := serveWithAPI(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf)
	mw.WriteField("passphrase", "moving day")
	fw, _ := mw.CreateFormFile("archive", "tails-server-web.age")
	fw.Write(arch)
	mw.Close()
	req, _ = http.NewRequest(http.MethodPost, b.base+"/services/web/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, page := fetch(t, b.hc, req)
	page = html.UnescapeString(page)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, k.Address()+".onion") || !strings.Contains(page, "nothing here has changed yet") {
		t.Fatalf("preview: %s\n%s", resp.Status, page)
	}
	if s := b.get(t, "/services/web"); strings.Contains(s, k.Address()) {
		t.Fatal("the address is here before Apply")
	}
	id := between(page, `action="/imports/`, `/apply"`)
	if code, _ := b.post(t, "/imports/"+id+"/apply", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("apply: %d", code)
	}
	if s := b.get(t, "/services/web"); !strings.Contains(s, k.Address()) {
		t.Fatal("web's page lacks the imported address")
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(after, to)
	return v
}
