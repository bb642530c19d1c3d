package torsup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tails-server/internal/store"
	"tails-server/internal/testenv"
)

// TestMain runs one move of tor's DataDirectory instead of the tests when
// started as the mover (TAILS_TEST_MOVE_FROM, _TO; _CRASH: the process
// dies once the copy is made, before the rename).
func TestMain(m *testing.M) {
	if from := os.Getenv("TAILS_TEST_MOVE_FROM"); from != "" {
		copyTree := store.CopyTree
		if os.Getenv("TAILS_TEST_MOVE_CRASH") != "" {
			copyTree = func(src, dst string) error {
				store.CopyTree(src, dst)
				os.Exit(3)
				return nil
			}
		}
		if err := New(Config{Mode: Testnet, DataDir: from}).MoveDataDir(os.Getenv("TAILS_TEST_MOVE_TO"), copyTree); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// torState makes a store and a DataDirectory of tor's in its volatile
// root, with guards in its state file; it returns the store's roots and
// that directory.
func torState(t *testing.T) (state, volatile, from string) {
	base := t.TempDir()
	state, volatile = filepath.Join(base, "state"), filepath.Join(base, "volatile")
	st, err := store.Open(state, volatile)
	if err != nil {
		t.Fatal(err)
	}
	from = st.TorDataDir(false)
	if err := os.MkdirAll(filepath.Join(from, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string]string{"state": "Guard in EntryGuard\n", "keys/secret_id_key": "k"} {
		if err := os.WriteFile(filepath.Join(from, f), []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return state, volatile, from
}

func move(from, to string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"TAILS_TEST_MOVE_FROM=" + from, "TAILS_TEST_MOVE_TO=" + to}, env...)...)
	return cmd
}

// TestInterruptedTorMoveCleanedAtStart: the daemon dies while it copies
// tor's state for persist-tor-state; at the next start (store.Open) the
// half-made copies (tor.moving, and tor.2.moving of a second tor) are gone
// and the state is where it was.
func TestInterruptedTorMoveCleanedAtStart(t *testing.T) {
	state, volatile, from := torState(t)
	to := filepath.Join(state, "tor")
	err := move(from, to, "TAILS_TEST_MOVE_CRASH=1").Run()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("the mover did not crash where told: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "tor.moving", "state")); err != nil {
		t.Fatalf("the crash left no tor.moving: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(state, "tor.2.moving", "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(state, volatile); err != nil {
		t.Fatal(err)
	}
	for _, left := range []string{"tor.moving", "tor.2.moving", "tor"} {
		if _, err := os.Lstat(filepath.Join(state, left)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there after the start: %v", left, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(from, "state")); err != nil || string(b) != "Guard in EntryGuard\n" {
		t.Errorf("tor's state where it was: %q, %v", b, err)
	}
}

// TestTorMoveSyncsParents: watched with strace, the move fsyncs the new
// root's directory after renaming tor.moving into place, and the old
// root's after removing the old copy, so that a crash keeps one of them.
func TestTorMoveSyncsParents(t *testing.T) {
	strace := testenv.RequireProgram(t, "strace")
	state, _, from := torState(t)
	to := filepath.Join(state, "tor")
	out := filepath.Join(t.TempDir(), "strace.out")
	mover := move(from, to)
	cmd := exec.Command(strace, append([]string{"-f", "-y", "-qq", "-e", "signal=none", "-e", "trace=rename,renameat,renameat2,fsync,unlinkat", "-o", out}, mover.Args...)...)
	cmd.Env = mover.Env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("move under strace: %v: %s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(to, "state")); err != nil || string(b) != "Guard in EntryGuard\n" {
		t.Fatalf("moved state %q, %v", b, err)
	}
	lines := strings.Split(string(trace), "\n")
	renamed := -1
	for i, l := range lines {
		if strings.Contains(l, "rename") && strings.Contains(l, `tor.moving"`) && strings.HasSuffix(l, "= 0") {
			renamed = i
		}
	}
	if renamed < 0 {
		t.Fatalf("no rename of tor.moving in the trace:\n%s", trace)
	}
	after := []byte(strings.Join(lines[renamed:], "\n"))
	for _, dir := range []string{state, filepath.Dir(from)} {
		if !regexp.MustCompile(`fsync\(\d+<` + regexp.QuoteMeta(dir) + `>\) = 0`).Match(after) {
			t.Errorf("%s was not fsynced after the rename:\n%s", dir, after)
		}
	}
}
