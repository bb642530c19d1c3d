package cli

import (
	"context"
	"flag"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/apitype"
)

// guiLogin is what `tails-server gui` prints: where the login file is and
// where the GUI answers. Neither is a secret; the file's content is.
type guiLogin struct {
	File    string    `json:"file" yaml:"file"`
	URL     string    `json:"url" yaml:"url"`
	Expires time.Time `json:"expires" yaml:"expires"`
}

// loginPage is the login file: a form that POSTs the token to the GUI,
// sent at once with JavaScript, with a button without it. A file:// page
// has no Content-Security-Policy of its own, so the inline handler runs.
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Log in to Tails Server</title>
</head>
<body onload="document.getElementById('login').submit()">
<form id="login" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<p>This file logs you in to Tails Server's interface. It works once, until {{.Until}}.</p>
<button type="submit">Log in to Tails Server</button>
</form>
</body>
</html>
`))

// runGUI opens the GUI in a window of its own (tails-server-gui, which
// needs no login: the daemon knows it by the socket's peer credentials)
// when a desktop session is there and the window program is installed.
// Otherwise it asks the daemon for a one-time login of its GUI, writes it
// into a login file only the caller can read, prints where it is, and
// opens it with xdg-open when a desktop session is there. The token is in
// no URL and in no process's arguments: only the file's path is.
func runGUI(e *env, args []string) error {
	fs := flag.NewFlagSet("gui", flag.ContinueOnError)
	noOpen := fs.Bool("no-open", false, "only write the login file and print its path, do not open a window or a browser")
	browser := fs.Bool("browser", false, "open the GUI in a browser even when the window (tails-server-gui) is there")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("gui", pos, 0, "no arguments"); err != nil {
		return err
	}
	desktop := os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
	if !*noOpen && !*browser && desktop {
		if prog := findWindow(); prog != "" {
			pid, err := openWindow(e, prog)
			if err == nil {
				fmt.Fprintf(e.stderr, "tails-server: opened the GUI in a window of its own (%s, pid %d)\n", prog, pid)
				return e.print(guiWindow{Window: prog, PID: pid})
			}
			fmt.Fprintf(e.stderr, "tails-server: no window: %v; opening the GUI in a browser instead\n", err)
		}
	}
	l, err := e.client().GUILogin(e.ctx)
	if err != nil {
		return err
	}
	// The form's action must be the daemon's own local http endpoint.
	u, err := url.Parse(l.URL)
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.") || u.Path != "/login" || u.RawQuery != "" || l.Token == "" {
		return fmt.Errorf("the daemon answered an unexpected GUI login; not using it")
	}
	path, err := writeLoginFile(l)
	if err != nil {
		return &exitError{code: ExitFailure, err: fmt.Errorf("writing the login file: %w", err), hint: "set XDG_RUNTIME_DIR to a directory of yours (mode 0700), or TMPDIR to one where you may write"}
	}
	out := guiLogin{File: path, URL: "http://" + u.Host + "/", Expires: l.Expires}
	if err := e.print(out); err != nil {
		return err
	}
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()
	fmt.Fprintf(e.stderr, "tails-server: open %s in a browser on this computer: it logs you in once, until %s; only you can read it\n", fileURL, l.Expires.Local().Format("15:04:05"))
	if *noOpen || !desktop {
		return nil
	}
	opener, err := exec.LookPath("xdg-open")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, opener, fileURL).CombinedOutput(); err != nil {
		fmt.Fprintf(e.stderr, "tails-server: could not open a browser (%v): open the file above yourself\n", err)
		if len(out) > 0 {
			fmt.Fprintf(e.stderr, "%s", out)
		}
	}
	return nil
}

// writeLoginFile writes the login page, mode 0600, into the caller's own
// directory: $XDG_RUNTIME_DIR/tails-server when XDG_RUNTIME_DIR is this
// user's and no one else's, else a fresh 0700 directory under $TMPDIR. It
// replaces the previous login file there.
func writeLoginFile(l apitype.GUILogin) (string, error) {
	dir, err := loginDir()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".login-*.html") // 0600
	if err != nil {
		return "", err
	}
	err = loginPage.Execute(f, struct{ Action, Token, Until string }{l.URL, l.Token, l.Expires.Local().Format("15:04:05")})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	path := filepath.Join(dir, "gui-login.html")
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return path, nil
}

// loginDir returns a directory that only this user can enter.
func loginDir() (string, error) {
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" && filepath.IsAbs(rt) && ownPrivateDir(rt) {
		dir := filepath.Join(rt, "tails-server")
		if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
			return "", err
		}
		if ownPrivateDir(dir) {
			return dir, nil
		}
	}
	return os.MkdirTemp("", "tails-server-gui-")
}

// ownPrivateDir says whether path is a real directory (not a symlink) of
// this user that no one else may read, write or enter.
func ownPrivateDir(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
