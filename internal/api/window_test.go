package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"tails-server/internal/client"
)

// ServeWindow of the fake daemon echoes what the GUI would get.
func (d *fakeDaemon) ServeWindow(w http.ResponseWriter, r *http.Request, uid, pid int) {
	if r.URL.Path == "/redirect" {
		http.Redirect(w, r, "/services/web", http.StatusSeeOther)
		return
	}
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%d %d %s %s %s %s %s", uid, pid, r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), b)
}

// The window route hands the GUI path, query, method and body to the
// daemon's GUI with the caller's peer credentials; redirects come back
// as they are; the daemon's own GUI may not use it.
func TestWindowRoute(t *testing.T) {
	c, _ := serve(t)
	ctx := context.Background()
	read := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := read(c.Window(ctx, http.MethodGet, "/services/web?live=1", "", nil))
	if want := fmt.Sprintf("%d %d GET /services/web live=1  ", os.Getuid(), os.Getpid()); code != 200 || body != want {
		t.Fatalf("GET: %d %q, want %q", code, body, want)
	}
	code, body = read(c.Window(ctx, http.MethodPost, "/services/web/enable", "application/x-www-form-urlencoded", strings.NewReader("csrf=x")))
	if !strings.HasSuffix(body, " POST /services/web/enable  application/x-www-form-urlencoded csrf=x") || code != 200 {
		t.Fatalf("POST: %d %q", code, body)
	}
	resp, err := c.Window(ctx, http.MethodPost, "/redirect", "", nil)
	if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/services/web" {
		t.Fatalf("redirect: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, body := read(c.Window(client.WithCaller(ctx, 1000), http.MethodGet, "/", "", nil)); code != http.StatusForbidden {
		t.Fatalf("the GUI's own request for a window: %d %s", code, body)
	}
}
