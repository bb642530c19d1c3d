package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// powParams is the second layer's pow-params line (rend-spec-v3,
// "pow-params v1 SEED-B64 SUGGESTED-EFFORT EXPIRATION-TIME").
var powParams = regexp.MustCompile(`(?m)^pow-params v1 \S+ \d+ \S+$`)

// TestPoWDescriptor: web with pow on (the default), client-auth off. An
// independent client tor fetches its descriptor (HSFETCH, the
// HS_DESC_CONTENT event), the test opens both encrypted layers (MACs
// checked) and finds pow-params in the inner one, and the client fetches
// the page; with `pow false` the re-published descriptor (a higher
// revision) has no pow-params.
func TestPoWDescriptor(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	d.mustCLI("set-option", "web", "client-auth", "false")
	d.mustCLI("enable", "web", "--wait", "150s")
	addr := strings.TrimSuffix(d.service("web").OnionAddress, ".onion")
	visitor := newOnionClient(t, "powdesc")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctl, err := dialControl(ctx, visitor.tor)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	events, unsub, err := ctl.Subscribe("HS_DESC_CONTENT")
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	// fetch returns the first descriptor of addr newer than revision.
	fetch := func(what string, revision uint64) *hsDesc {
		var got *hsDesc
		waitFor(t, 120*time.Second, what, func() error {
			if err := ctl.HSFetch(ctx, addr); err != nil {
				return err
			}
			timeout := time.After(10 * time.Second)
			for {
				select {
				case ev := <-events:
					f := strings.Fields(ev.Raw)
					if len(f) < 2 || f[1] != addr || ev.Data == "" {
						continue // another onion, or "not found"
					}
					desc, err := openHSDesc(addr, ev.Data)
					if err != nil {
						return fmt.Errorf("descriptor from %s: %w", strings.Join(f[2:], " "), err)
					}
					if desc.Revision <= revision {
						continue
					}
					got = desc
					return nil
				case <-timeout:
					return fmt.Errorf("no descriptor of revision > %d", revision)
				}
			}
		})
		return got
	}

	on := fetch("the descriptor with pow on", 0)
	line := powParams.FindString(on.Inner)
	if line == "" {
		t.Fatalf("pow on: no pow-params in the descriptor's inner layer:\n%s", firstLines(on.Inner, 8))
	}
	t.Logf("pow on, revision %d: %s", on.Revision, line)
	waitFor(t, 120*time.Second, "the client fetches the page with pow on", func() error {
		page, err := visitor.curl("http://" + addr + ".onion/")
		if err == nil && !strings.Contains(page, welcome) {
			err = fmt.Errorf("unexpected page %.80q", page)
		}
		return err
	})

	d.mustCLI("set-option", "web", "pow", "false")
	off := fetch("the re-published descriptor with pow off", on.Revision)
	if l := powParams.FindString(off.Inner); l != "" || strings.Contains(off.Inner, "pow-params") {
		t.Fatalf("pow off, revision %d: the descriptor still has %q", off.Revision, l)
	}
	if !strings.Contains(off.Inner, "introduction-point ") {
		t.Fatalf("pow off: the inner layer has no introduction points:\n%s", firstLines(off.Inner, 8))
	}
	t.Logf("pow off, revision %d: no pow-params", off.Revision)
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], "\n")
}
