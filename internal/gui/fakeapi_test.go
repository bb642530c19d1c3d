package gui

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// fakeAPI is a daemon's API with canned answers, on a unix socket.
type fakeAPI struct {
	mu       sync.Mutex
	daemon   apitype.Daemon
	services map[string]apitype.Service
	policy   apitype.IsolationPolicy
	// enable, when set, streams an enable: its progress, then it waits
	// for release before answering the service.
	progress []apitype.Progress
	release  chan struct{}
}

func (f *fakeAPI) handler() http.Handler {
	m := http.NewServeMux()
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	svc := func(w http.ResponseWriter, r *http.Request) (apitype.Service, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		sv, ok := f.services[r.PathValue("name")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			js(w, apitype.Error{Error: "unknown service", Hint: "`tails-server list` shows the services: [web]"})
		}
		return sv, ok
	}
	v := apitype.Version
	m.HandleFunc("GET "+v+"/daemon", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		js(w, f.daemon)
	})
	m.HandleFunc("GET "+v+"/settings", func(w http.ResponseWriter, r *http.Request) { js(w, apitype.Settings{}) })
	m.HandleFunc("GET "+v+"/isolation/policy", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		js(w, f.policy)
	})
	m.HandleFunc("GET "+v+"/services", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var l []apitype.Service
		for _, sv := range f.services {
			l = append(l, sv)
		}
		js(w, l)
	})
	m.HandleFunc("GET "+v+"/services/{name}", func(w http.ResponseWriter, r *http.Request) {
		if sv, ok := svc(w, r); ok {
			js(w, sv)
		}
	})
	m.HandleFunc("GET "+v+"/services/{name}/clients", func(w http.ResponseWriter, r *http.Request) { js(w, []apitype.Client{}) })
	m.HandleFunc("GET "+v+"/services/{name}/logs", func(w http.ResponseWriter, r *http.Request) { js(w, []string{}) })
	m.HandleFunc("GET "+v+"/services/{name}/share", func(w http.ResponseWriter, r *http.Request) {
		if sv, ok := svc(w, r); ok {
			js(w, apitype.Share{Service: sv.Name, OnionAddress: sv.OnionAddress, URI: "http://" + sv.OnionAddress + "/", ClientAuth: sv.ClientAuth})
		}
	})
	m.HandleFunc("POST "+v+"/services/{name}/enable", func(w http.ResponseWriter, r *http.Request) {
		sv, ok := svc(w, r)
		if !ok {
			return
		}
		enc := json.NewEncoder(w)
		for _, p := range f.progress {
			p.Service = sv.Name
			enc.Encode(apitype.EnableEvent{Progress: &p})
		}
		w.(http.Flusher).Flush()
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
		enc.Encode(apitype.EnableEvent{Service: &sv})
	})
	return m
}

// serveFake starts a GUI on f and returns it with a logged-in HTTP
// client.
func serveFake(t *testing.T, f *fakeAPI) (*Server, *http.Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewUnstartedServer(f.handler())
	api.Listener = l
	api.Start()
	t.Cleanup(api.Close)
	s := New(Config{Client: client.New(sock)})
	if err := s.Listen(""); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	logIn(t, s, hc, 0)
	return s, hc
}

// get fetches a page of the GUI and fails unless it answers 200.
func get(t *testing.T, s *Server, hc *http.Client, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+path, nil)
	resp, body := fetch(t, hc, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	return body
}

// post submits a form of the GUI with the session's CSRF token.
func post(t *testing.T, s *Server, hc *http.Client, path string, form url.Values) *http.Response {
	t.Helper()
	s.mu.Lock()
	for _, ss := range s.sessions {
		form.Set("csrf", ss.csrf)
	}
	s.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := fetch(t, hc, req)
	return resp
}
