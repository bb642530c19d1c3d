package grater

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// maxLine bounds a client's command line, as onion-grater does (10 KiB).
const maxLine = 10 << 10

// Relay plays onion-grater's part on loopback, for the end-to-end tests:
// it listens for control connections, opens one of its own to tor for
// each (authenticated with tor's cookie), answers PROTOCOLINFO (no
// authentication needed), AUTHENTICATE and QUIT itself, and passes
// every other command the filter allows to tor, in order, refusing the
// rest with "510 Command filtered". With no filter it passes everything
// (onion-grater's --complain). Either way it records every line.
type Relay struct {
	Upstream string  // tor's control port, "127.0.0.1:PORT"
	Cookie   string  // path of tor's control_auth_cookie
	Filter   *Filter // nil: record only

	ln      net.Listener
	mu      sync.Mutex
	lines   []string
	refused []string
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

// Start listens on a free loopback port.
func (r *Relay) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.ln = ln
	r.conns = map[net.Conn]bool{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns[c] = true
			r.mu.Unlock()
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.serve(c)
				r.mu.Lock()
				delete(r.conns, c)
				r.mu.Unlock()
			}()
		}
	}()
	return nil
}

// Addr is the relay's address, for --tor-control.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Lines returns the command lines received so far, line ends stripped.
func (r *Relay) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Refused returns the command lines the filter refused so far.
func (r *Relay) Refused() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refused...)
}

// Close stops listening and ends every connection.
func (r *Relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// session is one client's connection and its own to tor.
type session struct {
	client  net.Conn
	wmu     sync.Mutex // one reply or event at a time to the client
	replies chan []byte
}

func (s *session) send(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.client.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := s.client.Write(b)
	return err
}

func (r *Relay) serve(client net.Conn) {
	defer client.Close()
	up, upr, version, err := r.dialTor()
	if err != nil {
		fmt.Fprintf(os.Stderr, "grater relay: %v\n", err)
		return
	}
	defer up.Close()
	s := &session{client: client, replies: make(chan []byte, 1)}
	go func() {
		defer close(s.replies)
		defer client.Close()
		for {
			code, raw, err := readRaw(upr)
			if err != nil {
				return
			}
			if code == 650 {
				if s.send(raw) != nil {
					return
				}
				continue
			}
			s.replies <- raw
		}
	}()
	br := bufio.NewReaderSize(client, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		text := strings.TrimRight(string(line), "\r\n")
		r.mu.Lock()
		r.lines = append(r.lines, text)
		r.mu.Unlock()
		cmd, _, ok := Split(string(line))
		if !ok {
			continue // onion-grater skips it
		}
		var answer []byte
		switch {
		case cmd == "PROTOCOLINFO":
			answer = []byte("250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"" + version + "\"\r\n250 OK\r\n")
		case cmd == "AUTHENTICATE":
			answer = []byte("250 OK\r\n")
		case cmd == "QUIT":
			s.send([]byte("250 closing connection\r\n"))
			return
		case r.Filter != nil && !r.allows(text):
			r.mu.Lock()
			r.refused = append(r.refused, text)
			r.mu.Unlock()
			answer = []byte("510 Command filtered\r\n")
		default:
			if _, err := up.Write([]byte(text + "\r\n")); err != nil {
				return
			}
			var ok bool
			if answer, ok = <-s.replies; !ok {
				return
			}
		}
		if s.send(answer) != nil {
			return
		}
	}
}

func (r *Relay) allows(line string) bool {
	ok, _ := r.Filter.Allows(line)
	return ok
}

// dialTor opens an authenticated control connection to tor and returns
// tor's version.
func (r *Relay) dialTor() (net.Conn, *bufio.Reader, string, error) {
	cookie, err := os.ReadFile(r.Cookie)
	if err != nil {
		return nil, nil, "", err
	}
	up, err := net.DialTimeout("tcp", r.Upstream, 10*time.Second)
	if err != nil {
		return nil, nil, "", err
	}
	upr := bufio.NewReader(up)
	up.SetDeadline(time.Now().Add(10 * time.Second))
	version := ""
	for _, cmd := range []string{"AUTHENTICATE " + hex.EncodeToString(cookie), "GETINFO version"} {
		if _, err = io.WriteString(up, cmd+"\r\n"); err != nil {
			break
		}
		var code int
		var raw []byte
		if code, raw, err = readRaw(upr); err == nil && code != 250 {
			err = fmt.Errorf("tor answered %q", strings.TrimSpace(string(raw)))
		}
		if err != nil {
			break
		}
		if v, ok := strings.CutPrefix(strings.SplitN(string(raw), "\r\n", 2)[0], "250-version="); ok {
			version = strings.Fields(v + " ")[0]
		}
	}
	up.SetDeadline(time.Time{})
	if err != nil {
		up.Close()
		return nil, nil, "", fmt.Errorf("tor's control port %s: %w", r.Upstream, err)
	}
	return up, upr, version, nil
}

// readRaw reads one reply or event, lines and data blocks as sent, and
// its status code.
func readRaw(br *bufio.Reader) (int, []byte, error) {
	var out []byte
	inData := false
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		out = append(out, l...)
		t := strings.TrimRight(l, "\r\n")
		if inData {
			inData = t != "."
			continue
		}
		if len(t) < 4 {
			return 0, nil, errors.New("short line from tor")
		}
		switch t[3] {
		case '+':
			inData = true
		case ' ':
			code := 0
			fmt.Sscanf(t[:3], "%d", &code)
			return code, out, nil
		}
	}
}
