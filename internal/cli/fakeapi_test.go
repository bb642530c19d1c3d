package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"tails-server/internal/apitype"
)

// mainEnv set to 1 makes the test binary run the command line instead of
// the tests, so that a test can run "tails-server" as a program (the
// completion script runs the binary that printed it).
const mainEnv = "TAILS_SERVER_CLI_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeAPI serves the given API paths (under apitype.Version) with their
// JSON answers on a unix socket, and returns the socket's path.
func fakeAPI(t *testing.T, answers map[string]any) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for path, v := range answers {
		mux.HandleFunc("GET "+apitype.Version+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		})
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}
