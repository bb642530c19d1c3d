package catalog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/testenv"
	catalogfs "tails-server/services"
)

// wikiUsersCheck reads users.auth.php the way DokuWiki's authplain does
// (comments dropped, fields split at unescaped ':') and prints one line
// per account: login, whether the password verifies, groups.
const wikiUsersCheck = `
$pw = $argv[2];
foreach (file($argv[1]) as $line) {
    $line = trim(preg_replace('/#.*$/', '', $line));
    if ($line === '') continue;
    $f = preg_split('/(?<![^\\\\]\\\\)\:/', $line, 5);
    printf("%s %s %s %d\n", $f[0], password_verify($pw, $f[1]) ? 'ok' : 'no', $f[4], count($f));
}
`

// TestWikiAccounts runs the wiki's setup.php (rendered as the daemon
// does) with the real php: the admin's line in users.auth.php carries a
// bcrypt hash that verifies, whatever the password holds (':', '\', '#',
// quotes, '?>', a line-break attempt is refused before), the other
// accounts are kept, a new admin name takes the rights from the old one,
// and hostile admin names are refused with the option's instruction.
func TestWikiAccounts(t *testing.T) {
	php := testenv.RequireProgram(t, "php")
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, _ := cat.Get("wiki")
	var setupFile ConfigFile
	var nameOpt, pwOpt *Option
	for _, cf := range s.ConfigFiles {
		if cf.Path == "setup.php" {
			setupFile = cf
		}
	}
	for i := range s.Options {
		switch s.Options[i].Name {
		case "admin-name":
			nameOpt = &s.Options[i]
		case "admin-password":
			pwOpt = &s.Options[i]
		}
	}
	dir := t.TempDir()
	env := standIn
	env.Config, env.Data = filepath.Join(dir, "config"), filepath.Join(dir, "data")
	os.MkdirAll(env.Config, 0o700)
	users := filepath.Join(env.Data, "conf", "users.auth.php")
	setup := func(t *testing.T, admin, password string) string {
		t.Helper()
		out, err := RenderConfig(s, setupFile, map[string]string{"admin-name": admin, "admin-password": password}, env)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(env.Config, "setup.php")
		os.WriteFile(p, out, 0o600)
		if b, err := exec.Command(php, "-n", p).CombinedOutput(); err != nil {
			t.Fatalf("setup.php: %v: %s", err, b)
		}
		b, err := exec.Command(php, "-n", "-r", wikiUsersCheck, users, password).CombinedOutput()
		if err != nil {
			t.Fatalf("reading users.auth.php: %v: %s", err, b)
		}
		return string(b)
	}

	passwords := []string{"plain-password", `colon:colon:x:y:admin`, `back\slash\`, "hash # comment", `quo"te 'single' ?> <?php`,
		"$(touch x) `id` ${HOME}", "line\ninjected:x:y:z:admin", "nul\x00byte", "ünïcødé ☃ 🎉 password"}
	for _, pw := range passwords {
		norm, err := pwOpt.Validate(pw)
		if err != nil {
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "\n") {
				t.Errorf("password %q refused with %q: echoes it or is not one line", pw, err)
			}
			continue
		}
		if got, want := setup(t, "admin", norm), "admin ok admin,user 5\n"; got != want {
			t.Errorf("password %q: users.auth.php reads %q, want %q", pw, got, want)
		}
	}

	// Another account (a registration) is kept; a new admin name takes
	// the rights, the old login stays an ordinary user.
	f, _ := os.OpenFile(users, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "bob:$2y$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0:Bob\\:Smith:bob@x:user\n")
	f.Close()
	got := setup(t, "ann.admin", "second-password")
	if want := "admin no user 5\nbob no user 5\nann.admin ok admin,user 5\n"; got != want {
		t.Errorf("after the rename, users.auth.php reads %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(users); !strings.Contains(string(b), `Bob\:Smith`) {
		t.Errorf("bob's line changed:\n%s", b)
	}

	for _, name := range []string{"Ann Smith", "ann\nx:y", "ann:admin", "Admin", "_admin", "a/b", "a;b", "a b", "", "x\x00", "a#b",
		strings.Repeat("a", 65)} {
		_, err := nameOpt.Validate(name)
		// Line breaks and control characters are refused before the
		// pattern, saying so; the others with the pattern's instruction.
		fix := "use 1 to 64 lower-case letters"
		if strings.ContainsAny(name, "\n\x00") {
			fix = "admin-name"
		}
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), fix) {
			t.Errorf("admin-name %q: %v, want a one-line refusal saying what to use", name, err)
		}
	}
	for _, name := range []string{"admin", "ann.smith", "a", "x-1_y"} {
		if _, err := nameOpt.Validate(name); err != nil {
			t.Errorf("admin-name %q refused: %v", name, err)
		}
	}
}
