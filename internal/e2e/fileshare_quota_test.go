package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFileshareReceiveCannotFillTheHost replays finding 4 of the security
// review against the daemon: 30 uploads of almost 1 MiB each, with
// max-upload-mib 1, used to store them all (58 MB for 30 requests of two
// files). With max-received-mib 5 the received folder stops at 5 MiB, the
// uploads past it are answered 507 and leave nothing behind. A .part file
// left by a kill is removed when the backend starts.
func TestFileshareReceiveCannotFillTheHost(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, socket)
	if out := d.mustCLI("enable", "fileshare", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable fileshare:\n%s", out)
	}
	received := filepath.Join(d.service("fileshare").Details.DataDir, "data", "received")
	// What a kill of the daemon in the middle of an upload leaves.
	stale := filepath.Join(received, ".upload-00112233deadbeef.part")
	if err := os.MkdirAll(received, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	d.mustCLI("set-option", "fileshare", "mode", "receive")
	d.mustCLI("set-option", "fileshare", "max-upload-mib", "1")
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("the stale .part file is still there after the backend started")
	}
	d.mustCLI("set-option", "fileshare", "max-received-mib", "5")

	folder := func() (n int64, parts []string) {
		filepath.WalkDir(received, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			if strings.HasSuffix(p, ".part") {
				parts = append(parts, p)
			}
			fi, _ := de.Info()
			n += fi.Size()
			return nil
		})
		return n, parts
	}
	upload := func(i int) (int, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for j := range 2 {
			fw, _ := mw.CreateFormFile("file", fmt.Sprintf("f%d-%d.bin", i, j))
			io.CopyN(fw, rand.Reader, 900<<10)
		}
		mw.Close()
		resp, err := http.Post("http://"+d.service("fileshare").Details.LocalAddress+"/upload", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The backend restarted with the last option: wait until it answers.
	waitFor(t, 30*time.Second, "fileshare in receive mode", func() error {
		resp, err := http.Get("http://" + d.service("fileshare").Details.LocalAddress + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	counts := map[int]int{}
	for i := range 30 {
		code, body := upload(i)
		counts[code]++
		if code != http.StatusCreated && code != http.StatusInsufficientStorage {
			t.Fatalf("upload %d: %d %s", i, code, body)
		}
		if n, parts := folder(); n > 5<<20 || len(parts) > 0 {
			t.Fatalf("after upload %d the received folder holds %d bytes (quota %d), .part files %v", i, n, 5<<20, parts)
		}
	}
	// 2 × 900 KiB per request: two requests fit in 5 MiB, not a third.
	if counts[http.StatusCreated] != 2 || counts[http.StatusInsufficientStorage] != 28 {
		t.Fatalf("answers: %v, want 2 × 201 and 28 × 507", counts)
	}
}
