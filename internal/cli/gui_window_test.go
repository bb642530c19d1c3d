package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A window program whose WebKitGTK the loader cannot find (as ld.so says
// it) is named as such, with the package to install.
func TestCheckWindowWebKitMissing(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, windowProgram)
	script := "#!/bin/sh\necho \"$0: error while loading shared libraries: libwebkit2gtk-4.1.so.0: cannot open shared object file: No such file or directory\" >&2\nexit 127\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	err := checkWindow(context.Background(), prog)
	if err == nil || err.Error() != "WebKitGTK is missing (install Debian's libwebkit2gtk-4.1-0)" {
		t.Fatalf("checkWindow: %v", err)
	}
	os.WriteFile(prog, []byte("#!/bin/sh\necho 'tails-server-gui: cannot open the display'\nexit 1\n"), 0o755)
	if err := checkWindow(context.Background(), prog); err == nil || !strings.Contains(err.Error(), "cannot open the display") {
		t.Fatalf("checkWindow: %v", err)
	}
	os.WriteFile(prog, []byte("#!/bin/sh\necho 'tails-server-gui (WebKitGTK 2.50.6)'\n"), 0o755)
	if err := checkWindow(context.Background(), prog); err != nil {
		t.Fatalf("checkWindow of a working program: %v", err)
	}
}
