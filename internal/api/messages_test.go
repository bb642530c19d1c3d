package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/fileshare"
)

// TestMessagesEndpoints: list (newest first, accepting once the option is
// on), delete by ID, through the socket; a bad ID is refused by the
// daemon too (a raw request), a missing one is 404, a service without
// messages a one-line error; the log names the ID and the uid, never a
// message's text.
func TestMessagesEndpoints(t *testing.T) {
	var log syncBuffer
	c, sock := serveLog(t, &log)
	ctx := context.Background()
	l, err := c.ListMessages(ctx, "fileshare")
	if err != nil || l.Accepting || len(l.Messages) != 0 || l.Messages == nil {
		t.Fatalf("empty list: %+v %v", l, err)
	}
	for opt, v := range map[string]string{"mode": "receive", "messages": "on"} {
		if _, err := c.SetOption(ctx, "fileshare", opt, v); err != nil {
			t.Fatal(err)
		}
	}
	info, err := c.Info(ctx, "fileshare", true)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(info.Details.DataDir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	st := fileshare.NewMessageStore(filepath.Join(data, fileshare.MessagesFolder))
	old, err := st.Add("SECRET-TEXT-first", []string{"a.txt", "b.txt"}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	newer, err := st.Add("second", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err = c.ListMessages(ctx, "fileshare")
	if err != nil || !l.Accepting || len(l.Messages) != 2 || l.Messages[0].ID != newer.ID || l.Messages[1].ID != old.ID ||
		strings.Join(l.Messages[1].Files, ",") != "a.txt,b.txt" || l.Messages[1].Text != "SECRET-TEXT-first" {
		t.Fatalf("list: %+v %v", l, err)
	}
	res, err := c.DeleteMessage(ctx, "fileshare", old.ID)
	if err != nil || res.Deleted != old.ID {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if _, err := c.DeleteMessage(ctx, "fileshare", old.ID); err == nil || !strings.Contains(err.Error(), "fileshare has no message "+old.ID) {
		t.Errorf("delete again: %v", err)
	}
	if _, err := c.DeleteMessage(ctx, "fileshare", "../../x"); err == nil || !strings.Contains(err.Error(), "hexadecimal") {
		t.Errorf("bad ID: %v", err)
	}
	if _, err := c.ListMessages(ctx, "web"); err == nil || err.Error() != "web takes no messages from visitors" {
		t.Errorf("web: %v", err)
	}
	if _, err := c.ListMessages(ctx, "nosuch"); err == nil {
		t.Error("an unknown service listed")
	}
	// The daemon checks the ID itself.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	for _, id := range []string{"..%2F..%2Fetc%2Fpasswd", "0123456789ABCDEF", "%2e%2e", "0123456789abcdef.json"} {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+apitype.Host+apitype.Version+"/services/fileshare/messages/"+id, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e apitype.Error
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("DELETE %s: %d %s", id, resp.StatusCode, e.Error)
		}
	}
	if l, _ := c.ListMessages(ctx, "fileshare"); len(l.Messages) != 1 {
		t.Fatalf("after the bad deletes: %+v", l)
	}
	for _, want := range []string{`msg="message deleted"`, "id=" + old.ID, "uid="} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, log.String())
		}
	}
	if bytes.Contains([]byte(log.String()), []byte("SECRET-TEXT")) {
		t.Errorf("the log holds a message's text:\n%s", log.String())
	}
}
