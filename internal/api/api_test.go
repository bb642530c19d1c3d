package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/client"
	"tails-server/internal/services"
	"tails-server/internal/store"
	"tails-server/internal/testenv"
	"tails-server/internal/tor"
	catalogfs "tails-server/services"
)

type noTor struct{}

func (noTor) Conn() *tor.Conn   { return nil }
func (noTor) SocksAddr() string { return "" }

type fakeDaemon struct {
	m        *services.Manager
	loginFor []int // the uids GUILogin was called for
}

func (d *fakeDaemon) GUILogin(uid int) (apitype.GUILogin, error) {
	d.loginFor = append(d.loginFor, uid)
	return apitype.GUILogin{URL: "http://127.0.0.1:1/login", Token: "t"}, nil
}

func (d *fakeDaemon) Status() apitype.Daemon      { return apitype.Daemon{Network: "testnet"} }
func (d *fakeDaemon) Services() *services.Manager { return d.m }
func (d *fakeDaemon) Settings(context.Context) (apitype.Settings, error) {
	return apitype.Settings{}, nil
}
func (d *fakeDaemon) SetSetting(context.Context, string, string) (apitype.Settings, error) {
	return apitype.Settings{}, nil
}

// serve runs the API on a unix socket with a real service manager (and no
// tor) and returns a client of it.
func serve(t *testing.T) (*client.Client, string) {
	t.Helper()
	return serveLog(t, io.Discard)
}

// serveLog is serve with the API's log written to w.
func serveLog(t *testing.T, w io.Writer) (*client.Client, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := services.New(st, services.OneTor{T: noTor{}}, cat, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(&fakeDaemon{m: m}, slog.New(slog.NewTextHandler(w, nil)))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return client.New(sock), sock
}

func TestClientsThroughAPI(t *testing.T) {
	c, _ := serve(t)
	ctx := context.Background()
	cl, err := c.AddClient(ctx, "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cl.Credential, ":descriptor:x25519:") {
		t.Fatalf("credential %q", cl.Credential)
	}
	list, err := c.Clients(ctx, "web")
	if err != nil || len(list) != 1 || list[0].Credential != "" {
		t.Fatalf("list = %+v, %v (credentials must not be listed)", list, err)
	}
	again, err := c.Client(ctx, "web", "alice")
	if err != nil || again.Credential != cl.Credential {
		t.Fatalf("show = %+v, %v", again, err)
	}
	_, err = c.AddClient(ctx, "web", "alice")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := c.RemoveClient(ctx, "web", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(ctx, "web", "alice"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("show after remove: %v", err)
	}
	if _, err := c.Info(ctx, "nosuch", false); !errors.As(err, &ce) || ce.Status != http.StatusNotFound || ce.Hint == "" {
		t.Fatalf("unknown service: %v", err)
	}
	for _, bad := range []string{"a\nb", "a b", "", "-x", strings.Repeat("x", 33), "a\x00"} {
		if _, err := c.AddClient(ctx, "web", bad); !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
			t.Errorf("client name %q: %v, want 400", bad, err)
		}
	}
}

func TestRefusesBrowserRequests(t *testing.T) {
	_, sock := serve(t)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	cases := []struct {
		name   string
		host   string
		header [2]string
		path   string
		want   int
	}{
		{"ok", apitype.Host, [2]string{}, "/api/v1/services", 200},
		{"foreign host", "evil.example", [2]string{}, "/api/v1/services", 403},
		{"origin", apitype.Host, [2]string{"Origin", "http://evil.example"}, "/api/v1/services", 403},
		{"referer", apitype.Host, [2]string{"Referer", "http://evil.example/"}, "/api/v1/services", 403},
		{"unknown endpoint", apitype.Host, [2]string{}, "/api/v1/nothing", 404},
		{"wrong method", apitype.Host, [2]string{}, "/api/v1/services/web/enable", 405},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, "http://x"+c.path, nil)
		req.Host = c.host
		if c.header[0] != "" {
			req.Header.Set(c.header[0], c.header[1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}

// TestCallerOfEveryChange: the API knows its caller from the socket's peer
// credentials, logs the caller's uid with every change (and never the
// secret it answers), mints GUI logins for that uid, and believes the
// GUI's "made for uid N" only from the daemon's own process.
func TestCallerOfEveryChange(t *testing.T) {
	var logs syncBuffer
	c, sock := serveLog(t, &logs)
	ctx := context.Background()
	cl, err := c.AddClient(ctx, "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`msg="api change" method=POST path=/api/v1/services/web/clients uid=%d pid=%d`, os.Getuid(), os.Getpid())
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
	if _, key, _ := strings.Cut(cl.Credential, ":x25519:"); key == "" || strings.Contains(logs.String(), key) {
		t.Fatalf("the log holds the credential (or there is none: %q)", cl.Credential)
	}
	if _, err := c.AddClient(client.WithCaller(ctx, 1234), "web", "bob"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "path=/api/v1/services/web/clients uid="+strconv.Itoa(os.Getuid())+" pid="+strconv.Itoa(os.Getpid())+" gui_uid=1234") {
		t.Fatalf("log lacks the GUI's uid:\n%s", logs.String())
	}
	// GUI logins are minted for the caller, never for a GUI session.
	if _, err := c.GUILogin(ctx); err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	if _, err := c.GUILogin(client.WithCaller(ctx, 1234)); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Fatalf("GUI login from a GUI session: %v", err)
	}
	// Another process claiming to act for a uid: refused, nothing done.
	curl := testenv.RequireProgram(t, "curl")
	out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "-X", "POST",
		"-H", apitype.CallerHeader+": 0", "-H", "Content-Type: application/json", "--data", `{"name":"mallory"}`,
		"http://"+apitype.Host+"/api/v1/services/web/clients").Output()
	if err != nil || string(out) != "403" {
		t.Fatalf("curl with %s: %s %v", apitype.CallerHeader, out, err)
	}
	if _, err := c.Client(ctx, "web", "mallory"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("mallory was added: %v", err)
	}
	// A server that does not read peer credentials answers nothing.
	bare := filepath.Join(t.TempDir(), "bare.sock")
	ln, err := net.Listen("unix", bare)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(&fakeDaemon{}, slog.New(slog.NewTextHandler(io.Discard, nil)))}
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := client.New(bare).Daemon(ctx); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Fatalf("no peer credentials: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
