package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tails-server/internal/apitype"
)

// TestFileshareMessages: fileshare in mode receive with messages on; a
// visitor, through the onion with an independent client tor and curl,
// posts two files and a message in one multipart form; `messages` shows
// the message with both names and `files list --received` the files;
// chromium (headless, scripts off, through the client tor) fills in and
// sends the form as a visitor's browser would. A
// message over the cap is refused (413) and nothing of its post is kept;
// `messages --delete ID` removes one; with messages off the form has no
// text area and a posted message is refused, its file with it. The
// daemon's log never holds a message's text.
func TestFileshareMessages(t *testing.T) {
	requireNet(t)
	start := time.Now()
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	d.mustCLI("set-option", "fileshare", "mode", "receive")
	d.mustCLI("set-option", "fileshare", "messages", "on")
	if out := d.mustCLI("status", "fileshare"); !strings.Contains(out, "messages: \"on\"") && !strings.Contains(out, "messages: on") {
		t.Fatalf("status does not show messages on:\n%s", out)
	}
	if out := d.mustCLI("enable", "fileshare", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable fileshare:\n%s", out)
	}
	d.mustCLI("client", "add", "fileshare", "ann")
	ann := newOnionClient(t, "ann", strings.TrimSpace(d.mustCLI("client", "show", "fileshare", "ann", "--format", "auth-private")))
	base := "http://" + d.service("fileshare").OnionAddress
	t.Logf("enabled and client up after %s", time.Since(start).Round(time.Second))

	// pageWith waits for the receive page, with or without the text area.
	pageWith := func(textarea bool) {
		t.Helper()
		waitFor(t, 150*time.Second, fmt.Sprintf("the receive page (text area: %v)", textarea), func() error {
			res, err := ann.curlRaw(base + "/")
			if err != nil {
				return err
			}
			if res.code != 200 || bytes.Contains(res.body, []byte(`<textarea id="message" name="message"`)) != textarea {
				return fmt.Errorf("HTTP %d: %.300s", res.code, res.body)
			}
			return nil
		})
	}
	mine := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(mine, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// post sends a multipart form: curl -F for each field.
	post := func(fields ...string) curlResult {
		t.Helper()
		var args []string
		for _, f := range fields {
			args = append(args, "-F", f)
		}
		res, err := ann.curlRaw(append(args, base+"/upload")...)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	messages := func() apitype.MessageList {
		t.Helper()
		var l apitype.MessageList
		if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "messages", "fileshare")), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	received := func() string {
		t.Helper()
		var l apitype.FileList
		if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "files", "list", "fileshare", "--received")), &l); err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, f := range l.Files {
			n = append(n, fmt.Sprintf("%s:%d", f.Name, f.Size))
		}
		return strings.Join(n, ",")
	}

	pageWith(true)
	const text = "Hello host,\nhere are the two files. SECRET-WORDS-7731"
	sent := time.Now().UTC()
	res := post("file=@"+write("report.txt", "the report\n"), "file=@"+write("photo.bin", "0123456789"),
		"message=<"+write("message.txt", text))
	if res.code != 201 || !bytes.Contains(res.body, []byte("received your message")) || !bytes.Contains(res.body, []byte("report.txt")) {
		t.Fatalf("post of two files and a message: HTTP %d\n%s", res.code, res.body)
	}
	l := messages()
	if !l.Accepting || len(l.Messages) != 1 {
		t.Fatalf("messages: %+v", l)
	}
	m := l.Messages[0]
	if m.Text != text || strings.Join(m.Files, ",") != "report.txt,photo.bin" ||
		m.Time.Before(sent.Add(-time.Minute)) || m.Time.After(time.Now().Add(time.Minute)) {
		t.Fatalf("the message: %+v", m)
	}
	if out := d.mustCLI("messages", "fileshare"); !strings.Contains(out, "id: "+m.ID) || !strings.Contains(out, "- report.txt") || !strings.Contains(out, "- photo.bin") {
		t.Fatalf("messages (YAML):\n%s", out)
	}
	if got := received(); got != "photo.bin:10,report.txt:11" {
		t.Fatalf("received files: %s", got)
	}

	// Over the cap: refused, nothing of the post kept.
	res = post("file=@"+write("extra.txt", "extra"), "message=<"+write("long.txt", strings.Repeat("x", 10001)))
	if res.code != 413 || !bytes.Contains(res.body, []byte("Message too long")) {
		t.Fatalf("a message over the cap: HTTP %d\n%s", res.code, res.body)
	}
	if got, l := received(), messages(); got != "photo.bin:10,report.txt:11" || len(l.Messages) != 1 {
		t.Fatalf("after a refused post: files %s, %d messages", got, len(l.Messages))
	}
	// At the cap, and a message alone.
	if res = post("message=<" + write("cap.txt", strings.Repeat("y", 10000))); res.code != 201 {
		t.Fatalf("a message at the cap: HTTP %d\n%s", res.code, res.body)
	}
	if l = messages(); len(l.Messages) != 2 || len(l.Messages[0].Text) != 10000 || len(l.Messages[0].Files) != 0 {
		t.Fatalf("after a message alone: %+v", l.Messages)
	}

	// As a visitor's browser posts the form, scripts off: chromium
	// through the client tor.
	browserPost(t, ann, base, "From the browser,\nline two", write("b1.txt", "b1"), write("b2.txt", "b2"))
	if l = messages(); len(l.Messages) != 3 || l.Messages[0].Text != "From the browser,\nline two" ||
		strings.Join(l.Messages[0].Files, ",") != "b1.txt,b2.txt" {
		t.Fatalf("after the browser's post: %+v", l.Messages[0])
	}
	if got := received(); got != "b1.txt:2,b2.txt:2,photo.bin:10,report.txt:11" {
		t.Fatalf("received files after the browser's post: %s", got)
	}

	// Delete, by ID; a bad ID is refused with one line.
	d.mustCLI("messages", "fileshare", "--delete", m.ID)
	if l = messages(); len(l.Messages) != 2 || l.Messages[0].ID == m.ID || l.Messages[1].ID == m.ID {
		t.Fatalf("after --delete: %+v", l.Messages)
	}
	if _, errOut, code := d.cli("messages", "fileshare", "--delete", m.ID); code != 1 || !strings.Contains(errOut, "fileshare has no message "+m.ID) {
		t.Fatalf("delete again: exit %d %s", code, errOut)
	}
	if _, errOut, code := d.cli("messages", "fileshare", "--delete", "../../../etc/passwd"); code != 2 || !strings.HasPrefix(errOut, "tails-server: error: messages --delete: message ID") {
		t.Fatalf("a bad ID: exit %d %s", code, errOut)
	}
	if _, errOut, code := d.cli("messages", "web"); code != 1 || !strings.HasPrefix(errOut, "tails-server: error: web takes no messages from visitors\n") {
		t.Fatalf("messages web: exit %d %s", code, errOut)
	}

	// Messages off: no text area, a posted message refused with its file.
	d.mustCLI("set-option", "fileshare", "messages", "off")
	pageWith(false)
	res = post("file=@"+write("late.txt", "late"), "message=hello")
	if res.code != 400 || !bytes.Contains(res.body, []byte("no messages")) {
		t.Fatalf("a message with messages off: HTTP %d\n%s", res.code, res.body)
	}
	if got, l := received(), messages(); got != "b1.txt:2,b2.txt:2,photo.bin:10,report.txt:11" || len(l.Messages) != 2 || l.Accepting {
		t.Fatalf("with messages off: files %s, %+v", got, l)
	}
	if strings.Contains(d.log.String(), "SECRET-WORDS") {
		t.Fatalf("the daemon's log holds a message's text:\n%s", d.log)
	}
	t.Logf("TestFileshareMessages: %s", time.Since(start).Round(time.Second))
}

// browserPost opens the receive page in chromium (headless, scripts off,
// through the client tor's SOCKS port), types msg in the message field,
// picks the files and sends the form, as a visitor would.
func browserPost(t *testing.T, c *onionClient, base, msg string, files ...string) {
	t.Helper()
	ctx := newBrowser(t, t.TempDir(), chromedp.ProxyServer("socks5://"+c.tor.SocksAddr))
	step(t, ctx, 120*time.Second, "open the receive page", scriptsOff(true), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("message")))
	step(t, ctx, 120*time.Second, "send files and a message",
		chromedp.SendKeys(chromedp.ID("message"), msg),
		chromedp.SetUploadFiles(chromedp.ID("file"), files),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main ul")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "received your message") || !strings.Contains(got, filepath.Base(files[0])) {
		t.Fatalf("the page after sending: %q", got)
	}
}
