package cli

import (
	"path/filepath"
	"reflect"
	"testing"
)

// complete's answers for words, without a daemon and with one; a name
// with a line break from the daemon is never offered.
func TestCompleteWords(t *testing.T) {
	sock := fakeAPI(t, map[string]any{
		"/services": []map[string]string{{"name": "web"}, {"name": "evil\nname"}, {"name": ":file"}},
	})
	for _, tc := range []struct {
		socket string
		words  []string
		want   []string
	}{
		{"", []string{"ver"}, []string{"version\tprint the version"}},
		{"", []string{"__comp"}, nil},
		{"", []string{"enable", "web", "--onion-key", ""}, []string{completeFile}},
		{"", []string{"logs", "web", "-n", ""}, nil},
		{"", []string{"isolation", "run", "browser", "--", "l"}, []string{completeFile}},
		{"", []string{"client", "add", "web", "--f"}, nil},
		{"", []string{"client", "show", "web", "x", "--f"}, []string{"--format\tclient show: yaml, json, auth-private (default: the -o form…"}},
		{sock, []string{"status", ""}, []string{"web"}},
		{"", []string{"--socket", sock, "status", ""}, []string{"web"}},
		{"", []string{"status", "web", ""}, nil},
	} {
		e := &env{ctx: t.Context(), socket: tc.socket, output: "yaml"}
		if e.socket == "" {
			e.socket = filepath.Join(t.TempDir(), "none.sock")
		}
		if got := complete(e, tc.words); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.words, got, tc.want)
		}
	}
}
