package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestGUIFiles drives a service's files in Debian's chromium, as the
// person at the desktop would: the page shows the time left of
// stop-after; they pick two files with the file picker (the page's
// script shows the upload's progress), see them listed, and an
// independent client tor fetches one through the onion byte-identical;
// with JavaScript off the plain form adds a third; a second file of the
// same name is refused with the reason on the page and the share is
// unchanged. A visitor uploads a file through the onion: it appears in
// "Received files" by itself, the person saves it to their browser's
// downloads (byte-identical) and deletes it. No page names a local path.
func TestGUIFiles(t *testing.T) {
	requireNet(t)
	g := startGUIDaemon(t)
	g.mustCLI("set-option", "fileshare", "mode", "both")
	g.mustCLI("set-option", "fileshare", "stop-after", "2h")
	g.mustCLI("set-option", "fileshare", "messages", "on")
	if out := g.mustCLI("enable", "fileshare", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable fileshare:\n%s", out)
	}
	g.mustCLI("client", "add", "fileshare", "ann")
	ann := newOnionClient(t, "gui-files", strings.TrimSpace(g.mustCLI("client", "show", "fileshare", "ann", "--format", "auth-private")))
	onion := "http://" + g.service("fileshare").OnionAddress
	dataDir := g.service("fileshare").Details.DataDir

	mine := t.TempDir()
	write := func(name string, n int) (string, []byte) {
		b := make([]byte, n)
		rand.Read(b)
		p := filepath.Join(mine, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p, b
	}
	report, reportBytes := write("report.pdf", 2<<20+13)
	notes, _ := write("notes.txt", 900)
	third, _ := write("third.bin", 4096)

	dl := t.TempDir()
	ctx := newBrowser(t, dl)
	step(t, ctx, 30*time.Second, "log in", chromedp.Navigate("file://"+g.loginFile(t)), chromedp.WaitVisible(chromedp.CSS("ul.services")))
	step(t, ctx, 30*time.Second, "open fileshare", chromedp.Navigate(g.base+"/services/fileshare"), chromedp.WaitVisible(chromedp.ID("pick-share")))
	if s := text(t, ctx, "#stops-in"); !regexp.MustCompile(`^Stops in (1 h 59 min|2 h 0 min):`).MatchString(s) {
		t.Fatalf("the time left of stop-after 2h reads %q", s)
	}

	// liveText reads a part the page's live refresh may replace at any
	// moment, in one step of the page's own script.
	liveText := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.Evaluate[string](`(function(){var e=document.getElementById(`+strconvQuote(id)+`);return e?e.innerText:""})()`))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return s
	}
	shareText := func() string { return liveText("files-share") }
	step(t, ctx, 60*time.Second, "add two files with the picker",
		chromedp.SetUploadFiles(chromedp.CSS(`#pick-share`), []string{report, notes}),
		chromedp.Click(chromedp.ID("add-share")),
		chromedp.WaitVisible(chromedp.CSS(`.banner.info`)))
	if b := text(t, ctx, ".banner.info"); !strings.Contains(b, "Added report.pdf, notes.txt") {
		t.Fatalf("after the add the page says %q", b)
	}
	shot(t, ctx, "01-files-added")
	if s := shareText(); !strings.Contains(s, "report.pdf") || !strings.Contains(s, "notes.txt") || !strings.Contains(s, "2.0 MiB") {
		t.Fatalf("the shared files read:\n%s", s)
	}
	waitFor(t, 150*time.Second, "report.pdf through the onion", func() error {
		res, err := ann.curlRaw(onion + "/files/report.pdf")
		if err != nil {
			return err
		}
		if res.code != 200 || !bytes.Equal(res.body, reportBytes) {
			return fmt.Errorf("HTTP %d, %d bytes", res.code, len(res.body))
		}
		return nil
	})

	// The page counts the download and lists the transfer by itself;
	// while a slow one runs, it shows its progress.
	waitFor(t, 20*time.Second, "the download counted on the page", func() error {
		if s := shareText(); !regexp.MustCompile(`report\.pdf\s+2\.0 MiB, [^,]+, downloaded 1 time\b`).MatchString(s) {
			return fmt.Errorf("the shared files read %q", s)
		}
		if s := liveText("transfers"); !regexp.MustCompile(`Download of report\.pdf .*2\.0 MiB\s+Complete`).MatchString(s) {
			return fmt.Errorf("the transfers read %q", s)
		}
		return nil
	})
	// Big enough that the socket buffers between the share and its tor
	// (several MiB on loopback) do not take it all at once.
	big, bigBytes := write("big.iso", 20<<20)
	g.mustCLI("files", "add", "fileshare", big)
	slow := make(chan error, 1)
	go func() {
		res, err := ann.curlRaw("--limit-rate", "1500K", onion+"/files/big.iso")
		if err == nil && !bytes.Equal(res.body, bigBytes) {
			err = fmt.Errorf("HTTP %d, %d bytes", res.code, len(res.body))
		}
		slow <- err
	}()
	waitFor(t, 30*time.Second, "a progress bar while the slow download runs", func() error {
		pct, err := chromedp.Run(timeout(ctx, 5*time.Second), chromedp.Evaluate[int](`(function(){var p=document.querySelector('#live-transfers .transfers-now progress');return p?p.value:-1})()`))
		if err != nil {
			return err
		}
		if pct <= 0 || pct >= 100 {
			return fmt.Errorf("progress %d", pct)
		}
		return nil
	})
	shot(t, ctx, "01b-download-progress")
	if err := <-slow; err != nil {
		t.Fatalf("the slow download: %v", err)
	}

	// Without JavaScript the form is posted by the browser itself.
	step(t, ctx, 60*time.Second, "add a file without JavaScript",
		scriptsOff(true),
		chromedp.Navigate(g.base+"/services/fileshare"),
		chromedp.WaitVisible(chromedp.ID("pick-share")),
		chromedp.SetUploadFiles(chromedp.CSS(`#pick-share`), []string{third}),
		chromedp.Click(chromedp.ID("add-share")),
		chromedp.WaitVisible(chromedp.CSS(`.banner.info`)),
		scriptsOff(false))
	if s := shareText(); !strings.Contains(s, "third.bin") {
		t.Fatalf("after the add without JavaScript the shared files read:\n%s", s)
	}

	// The same name again: refused, the reason and the way out on the page.
	step(t, ctx, 60*time.Second, "add report.pdf again",
		chromedp.Navigate(g.base+"/services/fileshare"),
		chromedp.WaitVisible(chromedp.ID("pick-share")),
		chromedp.SetUploadFiles(chromedp.CSS(`#pick-share`), []string{report}),
		chromedp.Click(chromedp.ID("add-share")),
		chromedp.WaitVisible(chromedp.CSS(`#upload-share .field-error`)))
	if e := text(t, ctx, "#upload-share .field-error"); !strings.Contains(e, `"report.pdf" already exists`) || !strings.Contains(e, "Replace files of the same name") || strings.Contains(e, "--replace") {
		t.Fatalf("the refusal reads %q", e)
	}
	shot(t, ctx, "02-same-name-refused")

	// A visitor's upload appears by itself (server-sent events).
	visitor := filepath.Join(backendTempDir(t), "visitor.bin")
	visitorBytes := make([]byte, 150<<10)
	rand.Read(visitorBytes)
	if err := os.WriteFile(visitor, visitorBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(filepath.Dir(visitor), "note.txt")
	if err := os.WriteFile(note, []byte("Here is the file.\nCall me <b>tomorrow</b>."), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ann.curlRaw("-F", "file=@"+visitor, "-F", "message=<"+note, onion+"/upload")
	if err != nil || res.code != 201 {
		t.Fatalf("visitor's upload: %v, HTTP %d %s", err, res.code, res.body)
	}
	waitFor(t, 20*time.Second, "the received file and message shown without a reload", func() error {
		if s := liveText("files-received"); !strings.Contains(s, "visitor.bin") {
			return fmt.Errorf("received files read %q", s)
		}
		if s := liveText("messages"); !strings.Contains(s, "Call me <b>tomorrow</b>.") || !strings.Contains(s, "with visitor.bin") || !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`).MatchString(s) {
			return fmt.Errorf("messages read %q", s)
		}
		return nil
	})
	shot(t, ctx, "03-received")
	if b, err := chromedp.Run(timeout(ctx, 20*time.Second), chromedp.Screenshot(chromedp.ID("files"))); err == nil {
		os.WriteFile(filepath.Join(artifactsDir, "TestGUIFiles", "files-section.png"), b, 0o644)
	}

	step(t, ctx, 30*time.Second, "save the received file", chromedp.Click(chromedp.CSS(`#files-received a[href$="name=visitor.bin"]`)))
	waitFor(t, 30*time.Second, "the saved file in the downloads", func() error {
		b, err := os.ReadFile(filepath.Join(dl, "visitor.bin"))
		if err != nil {
			return err
		}
		if !bytes.Equal(b, visitorBytes) {
			return fmt.Errorf("saved %d bytes, not the %d uploaded", len(b), len(visitorBytes))
		}
		return nil
	})
	step(t, ctx, 30*time.Second, "delete the received file", chromedp.Click(chromedp.CSS(`#files-received button.destructive`)))
	waitFor(t, 20*time.Second, "the received file gone from the page", func() error {
		if s := liveText("files-received"); !strings.Contains(s, "Nothing received yet") {
			return fmt.Errorf("the received files read %q", s)
		}
		return nil
	})
	if out := g.mustCLI("files", "list", "fileshare", "--received"); strings.Contains(out, "visitor.bin") {
		t.Fatalf("files list --received still shows it:\n%s", out)
	}
	step(t, ctx, 30*time.Second, "delete the message", chromedp.Click(chromedp.CSS(`#messages button.destructive`)))
	waitFor(t, 20*time.Second, "the message gone from the page", func() error {
		if s := liveText("messages"); !strings.Contains(s, "No message yet") {
			return fmt.Errorf("the messages read %q", s)
		}
		return nil
	})
	if out := g.mustCLI("messages", "fileshare"); strings.Contains(out, "tomorrow") {
		t.Fatalf("tails-server messages still shows it:\n%s", out)
	}

	// Another site's page posting a form of files to the GUI (the
	// session's cookie would not go with it; here it does, to show the
	// form's own token is checked) adds nothing: no token, a wrong one,
	// a foreign Origin.
	ses := g.session(t)
	csrf := ses.csrf(t)
	for _, c := range []struct{ what, token, origin string }{
		{"no token", "", ""}, {"a wrong token", strings.Repeat("A", len(csrf)), ""}, {"a foreign origin", csrf, "http://evil.example"},
	} {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if c.token != "" {
			mw.WriteField("csrf", c.token)
		}
		w, _ := mw.CreateFormFile("file", "planted.html")
		io.WriteString(w, "<script>planted</script>")
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, g.base+"/services/fileshare/files/share", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := ses.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: HTTP %d, want 403", c.what, resp.StatusCode)
		}
	}
	if out := g.mustCLI("files", "list", "fileshare"); strings.Contains(out, "planted") {
		t.Fatalf("a forged form added a file:\n%s", out)
	}

	html, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, dataDir) || strings.Contains(html, mine) {
		t.Fatal("the service page names a local path")
	}
}

// strconvQuote quotes s for a script: a JSON string.
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
