package gui

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tails-server/internal/catalog"
	catalogfs "tails-server/services"
)

// TestGUISecretsNeverInURLs: for every secret option of the catalog the
// GUI takes the value in a POSTed form only, never from a URL's query,
// and what it answers (the redirect, the page after it, every link and
// form action) carries no secret, so none lands in the browser's history,
// a proxy's log or a Referer.
func TestGUISecretsNeverInURLs(t *testing.T) {
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	g := serveWithAPI(t)
	attr := regexp.MustCompile(`(?i)(href|action|src|formaction)="([^"]*)"`)
	n := 0
	for _, name := range cat.Names() {
		def, _ := cat.Get(name)
		for _, o := range def.Options {
			if o.Type != catalog.TypeSecret {
				continue
			}
			n++
			page := g.get(t, "/services/"+name)
			form := regexp.MustCompile(`(?s)<form ([^>]*)>((?:[^<]|<[^/]|</[^f])*?name="opt-` + regexp.QuoteMeta(o.Name) + `")`).FindStringSubmatch(page)
			if form == nil || !strings.Contains(form[1], `method="post"`) {
				t.Errorf("%s %s: the field is not in a POST form: %q", name, o.Name, form)
			}
			secret := "Url-Secret-" + name + "-" + o.Name + "-42"

			// In the query of a GET, or of a POST without it in the body:
			// not taken.
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				q := url.Values{"opt-" + o.Name: {secret}, "csrf": {g.csrf}}
				req, _ := http.NewRequest(method, g.base+"/services/"+name+"/options?"+q.Encode(), strings.NewReader(url.Values{"csrf": {g.csrf}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				fetch(t, g.hc, req)
				if v := g.secretValue(t, name, o.Name); v == secret {
					t.Errorf("%s %s: a %s with the secret in the URL's query set it", name, o.Name, method)
				}
			}

			// Through the form: set, and nowhere in the answer's URLs.
			form2 := url.Values{"opt-" + o.Name: {secret}, "csrf": {g.csrf}}
			req, _ := http.NewRequest(http.MethodPost, g.base+"/services/"+name+"/options", strings.NewReader(form2.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, body := fetch(t, g.hc, req)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s %s: POST answered %s:\n%s", name, o.Name, resp.Status, body)
			}
			if v := g.secretValue(t, name, o.Name); v != secret {
				t.Fatalf("%s %s: the POSTed secret was not set (value %q)", name, o.Name, v)
			}
			if loc := resp.Header.Get("Location"); strings.Contains(loc, secret) || strings.Contains(loc, url.QueryEscape(secret)) {
				t.Errorf("%s %s: the redirect carries the secret: %s", name, o.Name, loc)
			}
			// The page itself holds the value (in a password field, to
			// reveal and hand out): only its URLs matter here.
			for _, path := range []string{resp.Header.Get("Location"), "/", "/services/" + name, "/services/" + name + "?reveal=" + o.Name} {
				for _, m := range attr.FindAllStringSubmatch(g.get(t, path), -1) {
					if strings.Contains(m[2], secret) || strings.Contains(m[2], url.QueryEscape(secret)) {
						t.Errorf("%s %s: %s has a URL with the secret: %s", name, o.Name, path, m[0])
					}
				}
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d secret options in the catalog: the test looks at nothing", n)
	}
}

// secretValue is an option's value as the daemon has it.
func (g *guiSession) secretValue(t *testing.T, service, option string) string {
	t.Helper()
	o, err := g.s.c.GetOption(context.Background(), service, option, true)
	if err != nil {
		t.Fatal(err)
	}
	return o.Value
}
