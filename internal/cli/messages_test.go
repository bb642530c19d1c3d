package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

// messagesAPI answers the messages endpoints of fileshare (and refuses
// web's), recording the requests it gets.
func messagesAPI(t *testing.T, got *[]string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apitype.Version+"/services/{name}/messages", func(w http.ResponseWriter, r *http.Request) {
		*got = append(*got, "list "+r.PathValue("name"))
		if r.PathValue("name") != "fileshare" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(apitype.Error{Error: "web takes no messages from visitors", Hint: "messages are fileshare's"})
			return
		}
		json.NewEncoder(w).Encode(apitype.MessageList{Service: "fileshare", Accepting: true, Messages: []apitype.Message{
			{ID: "00112233445566ff", Time: when, Text: "two files\nfor you", Files: []string{"a.txt", "b (1).txt"}}}})
	})
	mux.HandleFunc("DELETE "+apitype.Version+"/services/fileshare/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		*got = append(*got, "delete "+r.PathValue("id"))
		json.NewEncoder(w).Encode(apitype.DeleteMessageResult{Service: "fileshare", Deleted: r.PathValue("id")})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestMessagesVerb(t *testing.T) {
	var got []string
	sock := messagesAPI(t, &got)
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"--socket", sock}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, _, code := run("messages", "fileshare")
	for _, want := range []string{"accepting: true", "id: 00112233445566ff", "time: 2026-12-02T16:00:00Z", "two files\n", "- a.txt", "- b (1).txt"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("messages (YAML): exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = run("-o", "json", "messages", "fileshare")
	var l apitype.MessageList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Messages) != 1 || l.Messages[0].Text != "two files\nfor you" {
		t.Errorf("messages -o json: exit %d %v:\n%s", code, err, out)
	}
	out, _, code = run("messages", "fileshare", "--delete", "00112233445566ff")
	if code != 0 || !strings.Contains(out, "deleted: 00112233445566ff") {
		t.Errorf("--delete: exit %d:\n%s", code, out)
	}
	_, errOut, code := run("messages", "web")
	if code != ExitFailure || errOut != "tails-server: error: web takes no messages from visitors\ntails-server: hint: messages are fileshare's\n" {
		t.Errorf("web: exit %d:\n%s", code, errOut)
	}
	if strings.Join(got, ",") != "list fileshare,list fileshare,delete 00112233445566ff,list web" {
		t.Errorf("requests: %v", got)
	}
	// Bad input: refused before the daemon is asked.
	got = nil
	for _, args := range [][]string{
		{"messages", "fileshare", "--delete", "../../etc/passwd"},
		{"messages", "fileshare", "--delete", ""},
		{"messages", "fileshare", "--delete", "00112233445566FF"},
		{"messages"},
		{"messages", "fileshare", "web"},
	} {
		_, errOut, code := run(args...)
		if code != ExitUsage || !strings.HasPrefix(errOut, "tails-server: error: ") || strings.Count(errOut, "\n") != 2 {
			t.Errorf("%q: exit %d:\n%s", args, code, errOut)
		}
	}
	if len(got) != 0 {
		t.Errorf("bad input reached the daemon: %v", got)
	}
}
