package api

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"tails-server/internal/client"
)

// TestFilesEndpoints: add (a stream), list, get one file, remove, through
// the socket; the log names who (uid) and what, never a file's content.
func TestFilesEndpoints(t *testing.T) {
	var log bytes.Buffer
	c, _ := serveLog(t, &log)
	ctx := context.Background()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "report.pdf", Typeflag: tar.TypeReg, Size: 21, Mode: 0o644})
	tw.Write([]byte("TOP-SECRET-CONTENT-42"))
	tw.Close()
	res, err := c.AddFiles(ctx, "fileshare", client.AddOptions{Total: 21}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Folder != "share" || len(res.Added) != 1 || res.Added[0] != "report.pdf" || res.Bytes != 21 {
		t.Fatalf("add: %+v", res)
	}
	l, err := c.ListFiles(ctx, "fileshare", client.FilesQuery{})
	if err != nil || len(l.Files) != 1 || l.Files[0].Name != "report.pdf" || l.Files[0].Size != 21 {
		t.Fatalf("list: %+v %v", l, err)
	}
	body, size, err := c.OpenFile(ctx, "fileshare", "share", "report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if string(got) != "TOP-SECRET-CONTENT-42" || size != 21 {
		t.Fatalf("get: %q %d", got, size)
	}
	if _, _, err := c.OpenFile(ctx, "fileshare", "", "report.pdf"); err == nil || !strings.Contains(err.Error(), `no file "report.pdf" in received of fileshare`) {
		t.Errorf("get from received: %v", err)
	}
	if _, err := c.RemoveFiles(ctx, "fileshare", client.FilesQuery{}, []string{"report.pdf"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.ListFiles(ctx, "fileshare", client.FilesQuery{}); len(l.Files) != 0 {
		t.Errorf("after remove: %+v", l)
	}
	for _, want := range []string{`msg="files added"`, "names=report.pdf", `msg="files removed"`, "uid="} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, log.String())
		}
	}
	if strings.Contains(log.String(), "TOP-SECRET") {
		t.Errorf("the log holds a file's content:\n%s", log.String())
	}
}
