package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/peercred"
	"tails-server/internal/services"
)

// ConfineDaemon is what a daemon that confines applications offers.
type ConfineDaemon interface {
	// PrepareConfined checks req for the caller and sets up the
	// application's namespace; the program is started by its Start.
	PrepareConfined(ctx context.Context, caller peercred.Cred, req apitype.ConfineRun) (ConfinedProgram, error)
}

// ConfinedProgram is a confined command prepared for one caller.
type ConfinedProgram interface {
	// Start runs it with stdio as its standard descriptors.
	Start(stdio [3]*os.File) (apitype.ConfineStarted, error)
	Signal(sig syscall.Signal)
	// Wait returns its exit status (128+N when killed by signal N).
	Wait() int
	// Close kills it if it still runs and releases its namespace.
	Close()
}

// forwarded are the signals a client may forward.
var forwarded = map[int]bool{int(syscall.SIGINT): true, int(syscall.SIGTERM): true, int(syscall.SIGHUP): true, int(syscall.SIGQUIT): true, int(syscall.SIGKILL): true}

// isolationRun runs a confined command for the caller: the request is
// checked and the namespace set up before the answer, so that every
// problem is an ordinary error; then the connection carries the caller's
// three descriptors (SCM_RIGHTS) in, and ConfineEvent lines out. The
// daemon never reads or writes those descriptors itself: they only
// become the command's stdio. When the client goes away, the command is
// killed.
func (h *handler) isolationRun(w http.ResponseWriter, r *http.Request) (any, error) {
	d, ok := h.d.(ConfineDaemon)
	if !ok {
		return nil, &services.Error{Status: http.StatusNotFound, Msg: "this daemon does not confine applications"}
	}
	c, _ := CallerOf(r)
	if c.ForUID >= 0 {
		return nil, &services.Error{Status: http.StatusForbidden, Msg: "confined programs are started from the command line, as the user who asks"}
	}
	var req apitype.ConfineRun
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	prog, err := d.PrepareConfined(r.Context(), c.Peer, req)
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errors.New("the API server cannot hand the connection over")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")
	if err := rw.Flush(); err != nil {
		return nil, errStreamed
	}
	var mu sync.Mutex
	send := func(ev apitype.ConfineEvent) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := json.Marshal(ev)
		conn.Write(append(b, '\n'))
	}
	fail := func(msg string) (any, error) {
		send(apitype.ConfineEvent{Error: &apitype.Error{Error: msg}})
		return nil, errStreamed
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fail("confined programs need the unix socket")
	}
	stdio, err := recvStdio(uc)
	if err != nil {
		return fail(err.Error())
	}
	started, err := prog.Start(stdio)
	for _, f := range stdio {
		f.Close() // the command holds its own copies
	}
	if err != nil {
		return fail(err.Error())
	}
	send(apitype.ConfineEvent{Started: &started})
	// Signals in; EOF (the client went) kills the command.
	go func() {
		sc := bufio.NewScanner(rw.Reader)
		for sc.Scan() {
			var s apitype.ConfineSignal
			if json.Unmarshal(sc.Bytes(), &s) == nil && forwarded[s.Signal] {
				prog.Signal(syscall.Signal(s.Signal))
			}
		}
		prog.Signal(syscall.SIGHUP)
		time.Sleep(2 * time.Second)
		prog.Signal(syscall.SIGKILL)
	}()
	code := prog.Wait()
	send(apitype.ConfineEvent{Exit: &code})
	return nil, errStreamed
}

// recvStdio reads the three descriptors the client sends.
func recvStdio(uc *net.UnixConn) ([3]*os.File, error) {
	var out [3]*os.File
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer uc.SetReadDeadline(time.Time{})
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(3*4))
	_, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return out, errors.New("the client sent no descriptors for the command's stdio")
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	var fds []int
	for _, m := range msgs {
		if err == nil {
			if f, ferr := syscall.ParseUnixRights(&m); ferr == nil {
				fds = append(fds, f...)
			}
		}
	}
	if len(fds) != 3 {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return out, errors.New("the client must send exactly three descriptors (stdin, stdout, stderr)")
	}
	for i, fd := range fds {
		syscall.CloseOnExec(fd)
		out[i] = os.NewFile(uintptr(fd), [3]string{"stdin", "stdout", "stderr"}[i])
	}
	return out, nil
}
