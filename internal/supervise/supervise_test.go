package supervise

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func waitUntil(t *testing.T, limit time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestartsAfterKillAndKeepsLogs(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "backend.log")
	p, err := Start(Spec{
		Name:       "test",
		Argv:       []string{"/bin/sh", "-c", "echo started $$; exec sleep 60"},
		LogPath:    logPath,
		MinBackoff: 10 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	waitUntil(t, 5*time.Second, "first output", func() bool { return len(p.Logs(0)) == 1 })
	first := p.Status().PID
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "restart", func() bool {
		st := p.Status()
		return st.Running && st.PID != first && st.Restarts == 1
	})
	if st := p.Status(); st.LastExit != "killed by signal killed" {
		t.Errorf("last exit %q", st.LastExit)
	}
	waitUntil(t, 5*time.Second, "second output", func() bool { return len(p.Logs(0)) == 2 })
	b, _ := os.ReadFile(logPath)
	if strings.Count(string(b), "started") != 2 {
		t.Fatalf("log file:\n%s", b)
	}
}

func TestBackoffOnCrashLoop(t *testing.T) {
	p, err := Start(Spec{Name: "crash", Argv: []string{"/bin/false"}, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	p.Stop()
	// 100+200+400 ms of backoff fit in 1.2 s, 100+200+400+800 do not.
	if r := p.Status().Restarts; r < 2 || r > 4 {
		t.Fatalf("%d restarts in 1.2 s with backoff from 100 ms", r)
	}
}

func TestStopKillsTheGroupAndMissingProgram(t *testing.T) {
	p, err := Start(Spec{Name: "group", Argv: []string{"/bin/sh", "-c", "sleep 60 & echo $!; wait"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "child pid", func() bool { return len(p.Logs(0)) == 1 })
	grandchild, err := strconv.Atoi(p.Logs(1)[0])
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	// The backgrounded sleep was in the group: it is gone (or a zombie
	// waiting for init), not left running.
	waitUntil(t, 5*time.Second, "grandchild gone", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", grandchild))
		return err != nil || strings.Contains(string(b), ") Z ")
	})
	if st := p.Status(); st.Running {
		t.Fatalf("still running: %+v", st)
	}
	if _, err := Start(Spec{Name: "missing", Argv: []string{"/nonexistent/program"}}, nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Fatalf("missing program: %v", err)
	}
}

func TestFollow(t *testing.T) {
	p, err := Start(Spec{Name: "follow", Argv: []string{"/bin/sh", "-c", "sleep 0.2; echo one; echo two; exec sleep 60"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch := p.Follow(ctx)
	var got []string
	for l := range ch {
		got = append(got, l)
		if len(got) == 2 {
			break
		}
	}
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("followed %q", got)
	}
}

// TestOnExitAndOnRestart: the supervisor tells when the process exits by
// itself and when it runs again, and tells nothing of a Stop.
func TestOnExitAndOnRestart(t *testing.T) {
	exits, restarts := make(chan string, 8), make(chan *Process, 8)
	p, err := Start(Spec{
		Name: "told", Argv: []string{"/bin/sh", "-c", "exec sleep 60"}, MinBackoff: 10 * time.Millisecond,
		OnExit:    func(_ *Process, how string) { exits <- how },
		OnRestart: func(p *Process) { restarts <- p },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Status().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case how := <-exits:
		if how != "killed by signal killed" {
			t.Errorf("OnExit told %q", how)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit not told of the kill")
	}
	select {
	case got := <-restarts:
		if got != p {
			t.Error("OnRestart told another process")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRestart not told of the restart")
	}
	p.Stop()
	time.Sleep(100 * time.Millisecond)
	select {
	case how := <-exits:
		t.Errorf("a Stop was told as an exit: %q", how)
	default:
	}
}

// TestKillOfAForkingMasterRestartsIt: a server that forks workers (nginx)
// is killed with SIGKILL, which leaves its workers running with its output
// and its listening socket. The supervisor must see the exit, end the
// orphans of its group, and start the server again.
func TestKillOfAForkingMasterRestartsIt(t *testing.T) {
	p, err := Start(Spec{
		Name: "master", Argv: []string{"/bin/sh", "-c", "sleep 60 & echo worker $!; exec sleep 60"},
		MinBackoff: 10 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	waitUntil(t, 5*time.Second, "worker pid", func() bool { return len(p.Logs(0)) == 1 })
	worker, err := strconv.Atoi(strings.TrimPrefix(p.Logs(1)[0], "worker "))
	if err != nil {
		t.Fatal(err)
	}
	master := p.Status().PID
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "restart after the master's kill", func() bool {
		st := p.Status()
		return st.Running && st.PID != master && st.Restarts == 1
	})
	waitUntil(t, 5*time.Second, "the orphaned worker gone", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", worker))
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}

// TestOverlongLineDoesNotBlockTheProgram: a line longer than the log keeps
// ends the line reader; the program's output must still be drained, or it
// blocks on its next write.
func TestOverlongLineDoesNotBlockTheProgram(t *testing.T) {
	done := filepath.Join(t.TempDir(), "done")
	p, err := Start(Spec{Name: "long", Argv: []string{"/bin/sh", "-c",
		`head -c 300000 /dev/zero | tr '\0' a; echo; head -c 300000 /dev/zero; touch "$0"; exec sleep 60`, done}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	waitUntil(t, 10*time.Second, "the program past its long output", func() bool {
		_, err := os.Stat(done)
		return err == nil
	})
}
