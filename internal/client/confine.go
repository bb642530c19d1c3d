package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"tails-server/internal/apitype"
)

// ConfinedRun is a command the daemon runs confined for this client.
type ConfinedRun struct {
	conn *net.UnixConn
	r    *bufio.Reader
	// Started says where it runs.
	Started apitype.ConfineStarted
}

// RunConfined asks the daemon to run req's command confined, with
// stdio (stdin, stdout, stderr) as its standard descriptors, and
// returns once it started. Wait for its exit status with Wait.
func (c *Client) RunConfined(ctx context.Context, req apitype.ConfineRun, stdio [3]*os.File) (*ConfinedRun, error) {
	if err := c.precheck(); err != nil {
		return nil, err
	}
	nc, err := c.dial(ctx, "", "")
	if err != nil {
		return nil, c.connErr(err)
	}
	conn := nc.(*net.UnixConn)
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apitype.Host+apitype.Version+"/isolation/run", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if err := hr.Write(conn); err != nil {
		return nil, c.connErr(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		return nil, c.connErr(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e apitype.Error
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return nil, &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
	}
	rights := syscall.UnixRights(int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()))
	if _, _, err := conn.WriteMsgUnix([]byte{0}, rights, nil); err != nil {
		return nil, fmt.Errorf("sending the command's terminal to the daemon: %w", err)
	}
	run := &ConfinedRun{conn: conn, r: br}
	ev, err := run.next()
	if err != nil {
		return nil, err
	}
	if ev.Started == nil {
		return nil, errors.New("the daemon did not start the command")
	}
	run.Started = *ev.Started
	ok = true
	return run, nil
}

func (r *ConfinedRun) next() (apitype.ConfineEvent, error) {
	var ev apitype.ConfineEvent
	line, err := r.r.ReadBytes('\n')
	if err != nil {
		return ev, errors.New("the daemon went away while the confined command ran (it was killed with its namespace)")
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		return ev, fmt.Errorf("malformed answer from the daemon: %w", err)
	}
	if ev.Error != nil {
		return ev, &Error{Status: http.StatusInternalServerError, Msg: ev.Error.Error, Hint: ev.Error.Hint}
	}
	return ev, nil
}

// Signal forwards a signal to the command.
func (r *ConfinedRun) Signal(sig syscall.Signal) error {
	b, _ := json.Marshal(apitype.ConfineSignal{Signal: int(sig)})
	_, err := r.conn.Write(append(b, '\n'))
	return err
}

// Wait returns the command's exit status (128+N if a signal N ended it).
func (r *ConfinedRun) Wait() (int, error) {
	defer r.conn.Close()
	for {
		ev, err := r.next()
		if err != nil {
			return 0, err
		}
		if ev.Exit != nil {
			return *ev.Exit, nil
		}
	}
}
