package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// TestListAndInfoSayInstalled: `list` and `info` show the daemon's
// installed, in JSON and in YAML, false as well as true.
func TestListAndInfoSayInstalled(t *testing.T) {
	sock := fakeAPI(t, map[string]any{
		"/services": []apitype.Service{
			{Name: "web", Title: "Web site", Installed: true, State: apitype.StateDisabled},
			{Name: "irc", Title: "IRC", Installed: false, State: apitype.StateDisabled},
		},
		"/services/irc": apitype.Service{Name: "irc", Title: "IRC", Installed: false, State: apitype.StateDisabled},
	})
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append([]string{"--socket", sock}, args...), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(run("-o", "json", "list")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0]["installed"] != true || list[1]["installed"] != false {
		t.Fatalf("list -o json: %v, want web installed: true, irc installed: false", list)
	}
	if y := run("list"); !strings.Contains(y, "installed: true") || !strings.Contains(y, "installed: false") {
		t.Fatalf("list (YAML) lacks installed:\n%s", y)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(run("-o", "json", "info", "irc")), &info); err != nil {
		t.Fatal(err)
	}
	if v, ok := info["installed"]; !ok || v != false {
		t.Fatalf("info -o json irc: installed = %v (present: %v), want false", v, ok)
	}
}
