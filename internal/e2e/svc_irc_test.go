package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

// ircConn is a minimal IRC client: lines out, lines in.
type ircConn struct {
	c    net.Conn
	r    *bufio.Reader
	nick string
}

var ircNicks atomic.Int64

// ircNick makes a nick that no earlier connection holds: the server may
// not have seen an old connection through Tor close yet.
func ircNick(base string) string {
	return fmt.Sprintf("%s%d", base, ircNicks.Add(1))
}

func (i *ircConn) send(format string, args ...any) error {
	_, err := fmt.Fprintf(i.c, format+"\r\n", args...)
	return err
}

// until reads lines, answering PINGs, until one has the command (or
// numeric) cmd, and returns it; an ERROR line ends the wait.
func (i *ircConn) until(cmds ...string) (string, []string, error) {
	for {
		line, err := i.r.ReadString('\n')
		if err != nil {
			return "", nil, fmt.Errorf("reading: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "PING" {
			i.send("PONG %s", strings.Join(f[1:], " "))
			continue
		}
		if len(f) > 0 && f[0] == "ERROR" {
			return "ERROR", f, errors.New(line)
		}
		if len(f) > 1 {
			for _, c := range cmds {
				if f[1] == c {
					return c, f, nil
				}
			}
		}
	}
}

// ircRegister sends PASS, NICK and USER, with a fresh nick made from
// base, and waits for the welcome (001), or for the refusal of the
// password (464 or ERROR) or of the nick (433).
func ircRegister(c net.Conn, base, password string) (*ircConn, error) {
	i := &ircConn{c: c, r: bufio.NewReader(c), nick: ircNick(base)}
	i.send("PASS %s", password)
	i.send("NICK %s", i.nick)
	i.send("USER %s 0 * :%s", i.nick, i.nick)
	got, f, err := i.until("001", "464", "433")
	if err != nil {
		return i, err
	}
	switch got {
	case "464":
		return i, fmt.Errorf("password refused: %s", strings.Join(f, " "))
	case "433":
		return i, fmt.Errorf("nick refused: %s", strings.Join(f, " "))
	}
	return i, nil
}

// ircJoin joins channel and waits for the end of its names list.
func (i *ircConn) join(channel string) error {
	i.send("JOIN %s", channel)
	got, f, err := i.until("366", "403", "405", "471", "473", "474", "475")
	if err == nil && got != "366" {
		err = fmt.Errorf("JOIN %s refused: %s", channel, strings.Join(f, " "))
	}
	return err
}

// list returns the #channels LIST shows.
func (i *ircConn) list() ([]string, error) {
	i.send("LIST")
	var chans []string
	for {
		got, f, err := i.until("322", "323")
		if err != nil {
			return nil, err
		}
		if got == "323" {
			sort.Strings(chans)
			return chans, nil
		}
		if len(f) > 3 && strings.HasPrefix(f[3], "#") { // not ngIRCd's own &SERVER
			chans = append(chans, f[3])
		}
	}
}

// ngircdConfigProblems runs ngircd --configtest on the rendered file and
// returns the problems it reports about its lines (it exits 0 even then).
func ngircdConfigProblems(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("ngircd", "--configtest", "--config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ngircd --configtest: %v\n%s", err, out)
	}
	var problems []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, " - ") && strings.Contains(l, ", line ") {
			problems = append(problems, l)
		}
	}
	return problems
}

// confDirectives counts the "Name = value" lines and sections of an
// ngircd.conf.
func confDirectives(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l[0] != '#' && l[0] != ';' {
			n++
		}
	}
	return n
}

// TestServiceIRC enables Debian's ngIRCd from the catalog; two IRC clients
// register through the onion with the server password, join a channel and
// one's PRIVMSG reaches the other; a wrong password is refused. Then kill
// -9, each option, hostile values.
func TestServiceIRC(t *testing.T) {
	s := enableCatalogService(t, "irc", "ngircd")
	password, operPassword := s.option(t, "password"), s.option(t, "operator-password")
	confPath := filepath.Join(s.d.service("irc").Details.DataDir, "config", "ngircd.conf")
	if p := ngircdConfigProblems(t, confPath); len(p) > 0 {
		t.Fatalf("ngircd --configtest reports problems:\n%s", strings.Join(p, "\n"))
	}

	// chat: ann and bob register, join channel, ann's PRIVMSG reaches bob.
	chat := func(channel string) func(net.Conn) error {
		return func(c1 net.Conn) error {
			ann, err := ircRegister(c1, "ann", password)
			if err != nil {
				return fmt.Errorf("ann: %w", err)
			}
			c2, err := s.dial()
			if err != nil {
				return err
			}
			defer c2.Close()
			c2.SetDeadline(time.Now().Add(45 * time.Second))
			bob, err := ircRegister(c2, "bob", password)
			if err != nil {
				return fmt.Errorf("bob: %w", err)
			}
			if err := bob.join(channel); err != nil {
				return err
			}
			if err := ann.join(channel); err != nil {
				return err
			}
			msg := fmt.Sprintf("hello through the onion %d", time.Now().UnixNano())
			ann.send("PRIVMSG %s :%s", channel, msg)
			for {
				_, f, err := bob.until("PRIVMSG")
				if err != nil {
					return fmt.Errorf("bob waiting for ann's message: %w", err)
				}
				line := strings.Join(f, " ")
				if strings.HasPrefix(f[0], ":"+ann.nick+"!") && f[2] == channel && strings.HasSuffix(line, ":"+msg) {
					ann.send("QUIT")
					bob.send("QUIT")
					return nil
				}
			}
		}
	}
	s.prove(t, "two users chat in #general", chat("#general"))

	s.checkConfinement(t, "tails-server-irc")

	refused := func(pw string) func(net.Conn) error {
		return func(c net.Conn) error {
			_, err := ircRegister(c, "eve", pw)
			if err == nil {
				return errors.New("registered with a wrong password")
			}
			if !strings.Contains(err.Error(), "password refused") && !strings.Contains(strings.ToLower(err.Error()), "password") {
				return fmt.Errorf("not a password refusal: %w", err)
			}
			return nil
		}
	}
	t.Run("wrong password is refused", func(t *testing.T) {
		s.prove(t, "wrong password refused", refused(password+"x"))
	})

	t.Run("share", func(t *testing.T) {
		var sh apitype.Share
		s.jsonOut(t, &sh, "share", "irc")
		if want := fmt.Sprintf("irc://%s:6667", s.addr); sh.URI != want {
			t.Errorf("share uri %q, want %q", sh.URI, want)
		}
		if len(sh.Details) != 2 || sh.Details[0].Value != password || sh.Details[1].Value != operPassword ||
			!sh.Details[0].Secret || !sh.Details[1].Secret {
			t.Errorf("share details %+v, want both passwords as secrets", sh.Details)
		}
	})

	t.Run("kill -9 of ngircd", func(t *testing.T) {
		s.kill9(t)
		s.prove(t, "chat after the restart", chat("#general"))
	})

	t.Run("set-option password", func(t *testing.T) {
		old := password
		s.set(t, "password", "New.Server-Pass42")
		password = "New.Server-Pass42"
		s.prove(t, "chat with the new password", chat("#general"))
		s.prove(t, "old password refused", refused(old))
	})

	t.Run("set-option channels", func(t *testing.T) {
		s.set(t, "channels", "alpha,beta_2")
		s.prove(t, "LIST shows the configured channels", func(c net.Conn) error {
			i, err := ircRegister(c, "ann", password)
			if err != nil {
				return err
			}
			chans, err := i.list()
			if err != nil {
				return err
			}
			if strings.Join(chans, " ") != "#alpha #beta_2" {
				return fmt.Errorf("LIST shows %q, want #alpha #beta_2", chans)
			}
			return nil
		})
		s.prove(t, "chat in #beta_2", chat("#beta_2"))
	})

	t.Run("set-option operator-password", func(t *testing.T) {
		s.set(t, "operator-password", "Oper-Pass.0123")
		oper := func(pw, want string) func(net.Conn) error {
			return func(c net.Conn) error {
				i, err := ircRegister(c, "ann", password)
				if err != nil {
					return err
				}
				i.send("OPER admin %s", pw)
				got, f, err := i.until("381", "464", "491")
				if err == nil && got != want {
					err = fmt.Errorf("OPER: %s, want %s", strings.Join(f, " "), want)
				}
				return err
			}
		}
		s.prove(t, "OPER with the new password", oper("Oper-Pass.0123", "381"))
		s.prove(t, "OPER with the old password refused", oper(operPassword, "464"))
	})

	t.Run("hostile values", func(t *testing.T) {
		count := func(t *testing.T) int { return confDirectives(s.config(t, "ngircd.conf")) }
		check := func(t *testing.T, _ string) {
			if p := ngircdConfigProblems(t, confPath); len(p) > 0 {
				t.Fatalf("ngircd --configtest reports problems:\n%s", strings.Join(p, "\n"))
			}
			s.prove(t, "chat after a hostile value", chat("#alpha"))
		}
		for _, opt := range []string{"password", "channels", "operator-password"} {
			s.hostile(t, opt, count, check)
		}
		// Injection through the list: each element is a channel name.
		for _, v := range []string{"a,b\n[Operator]", "a,##b", "a, b", "a,,b", strings.Repeat("a,", 20) + "a"} {
			_, stderr, code := s.d.in(t).cli("set-option", "irc", "channels", v)
			wantOneLineError(t, stderr, code, 1, "channels")
		}
		if got := s.option(t, "channels"); got != "alpha,beta_2" {
			t.Fatalf("channels changed to %q by refused values", got)
		}
		if !regexp.MustCompile(`(?m)^Name = #alpha$`).MatchString(s.config(t, "ngircd.conf")) {
			t.Fatal("config lost #alpha")
		}
	})
}

// BenchmarkEnable_irc measures the seconds from `enable irc` to the first
// registration (001) through the onion.
func BenchmarkEnable_irc(b *testing.B) {
	benchEnable(b, "irc", "ngircd", func(c net.Conn, _ apitype.Service, secret string) error {
		_, err := ircRegister(c, "bench", secret)
		return err
	}, "password")
}
