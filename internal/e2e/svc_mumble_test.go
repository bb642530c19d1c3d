package e2e

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/socks"
)

// Mumble control-channel message types (Mumble.proto).
const (
	mumbleVersion      = 0
	mumbleAuthenticate = 2
	mumbleReject       = 4
	mumbleServerSync   = 5

	mumbleRejectWrongServerPW = 4 // Reject.RejectType WrongServerPW
	mumbleRejectServerFull    = 6 // Reject.RejectType ServerFull
)

var mumbleUsers atomic.Int64

// mumbleSession is what a Mumble login saw: the server's Version, then
// either ServerSync (logged in) or Reject.
type mumbleSession struct {
	conn          *tls.Conn
	serverVersion uint64 // Version.version: major<<16 | minor<<8 | patch
	release       string // Version.release, empty unless sendversion
	os            string // Version.os, empty unless sendversion
	synced        bool
	maxBandwidth  uint64 // ServerSync.max_bandwidth
	welcome       string // ServerSync.welcome_text
	rejectType    uint64
	rejectReason  string
}

// mumbleLogin speaks Mumble's control protocol on conn, as user plus a
// number: TLS (the server's certificate is its own, self-signed), Version
// and Authenticate, then reads until ServerSync or Reject. Each message is a 2-byte big-endian
// type, a 4-byte length and a protobuf body, encoded here by hand.
func mumbleLogin(conn net.Conn, user, password string) (*mumbleSession, error) {
	// A fresh name each time: murmurd refuses a name whose earlier
	// connection it has not seen close yet (Tor closes lazily).
	user = fmt.Sprintf("%s%d", user, mumbleUsers.Add(1))
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mumble"})
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	s := &mumbleSession{conn: tc}
	var v []byte
	v = pbVarint(v, 1, 1<<16|3<<8|4) // version 1.3.4
	v = pbBytes(v, 2, "tails-server e2e")
	v = pbBytes(v, 3, "Linux")
	var a []byte
	a = pbBytes(a, 1, user)
	a = pbBytes(a, 2, password)
	a = pbVarint(a, 5, 1) // opus
	if err := mumbleWrite(tc, mumbleVersion, v); err != nil {
		return nil, err
	}
	if err := mumbleWrite(tc, mumbleAuthenticate, a); err != nil {
		return nil, err
	}
	for {
		typ, body, err := mumbleRead(tc)
		if err != nil {
			return nil, fmt.Errorf("reading the server's messages: %w", err)
		}
		ints, strs, err := pbFields(body)
		if err != nil {
			return nil, fmt.Errorf("message type %d: %w", typ, err)
		}
		switch typ {
		case mumbleVersion:
			s.serverVersion, s.release, s.os = ints[1], strs[2], strs[3]
		case mumbleReject:
			s.rejectType, s.rejectReason = ints[1], strs[2]
			return s, nil
		case mumbleServerSync:
			s.synced, s.maxBandwidth, s.welcome = true, ints[2], strs[3]
			return s, nil
		}
	}
}

// mumbleJoin logs in with password and wants ServerSync after the
// server's Version.
func mumbleJoin(conn net.Conn, user, password string) (*mumbleSession, error) {
	s, err := mumbleLogin(conn, user, password)
	if err != nil {
		return nil, err
	}
	if s.serverVersion>>16 != 1 {
		return nil, fmt.Errorf("no server Version message (version %#x)", s.serverVersion)
	}
	if s.release != "" || s.os != "" {
		return nil, fmt.Errorf("the server tells its release %q and OS %q", s.release, s.os)
	}
	if !s.synced {
		return nil, fmt.Errorf("rejected (type %d): %s", s.rejectType, s.rejectReason)
	}
	return s, nil
}

func mumbleWrite(w io.Writer, typ uint16, body []byte) error {
	msg := make([]byte, 6, 6+len(body))
	binary.BigEndian.PutUint16(msg, typ)
	binary.BigEndian.PutUint32(msg[2:], uint32(len(body)))
	_, err := w.Write(append(msg, body...))
	return err
}

func mumbleRead(r io.Reader) (uint16, []byte, error) {
	var h [6]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[2:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("message of %d bytes", n)
	}
	body := make([]byte, n)
	_, err := io.ReadFull(r, body)
	return binary.BigEndian.Uint16(h[:]), body, err
}

// pbVarint appends protobuf field num as a varint.
func pbVarint(b []byte, num int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3)
	return binary.AppendUvarint(b, v)
}

// pbBytes appends protobuf field num as length-delimited bytes.
func pbBytes(b []byte, num int, s string) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// pbFields decodes a protobuf message's varint and bytes fields (the last
// of each number wins); fixed-size fields are skipped.
func pbFields(b []byte) (map[int]uint64, map[int]string, error) {
	ints, strs := map[int]uint64{}, map[int]string{}
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, nil, errors.New("bad field key")
		}
		b = b[n:]
		num := int(key >> 3)
		switch key & 7 {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, nil, errors.New("bad varint")
			}
			ints[num], b = v, b[n:]
		case 1, 5:
			size := 8
			if key&7 == 5 {
				size = 4
			}
			if len(b) < size {
				return nil, nil, errors.New("short fixed field")
			}
			b = b[size:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, nil, errors.New("bad length")
			}
			strs[num], b = string(b[n:n+int(l)]), b[n+int(l):]
		default:
			return nil, nil, fmt.Errorf("wire type %d", key&7)
		}
	}
	return ints, strs, nil
}

// iniDirectives counts the key=value lines of an ini file.
func iniDirectives(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l[0] != ';' && l[0] != '#' && l[0] != '[' && strings.Contains(l, "=") {
			n++
		}
	}
	return n
}

// TestServiceMumble enables Debian's murmurd from the catalog and proves
// it through the onion with a Mumble protocol client: the right password
// reaches ServerSync, a wrong one gets Reject; then kill -9, each option,
// and hostile values.
func TestServiceMumble(t *testing.T) {
	s := enableCatalogService(t, "mumble", "murmurd")
	join := func(password string, check func(*mumbleSession) error) func(net.Conn) error {
		return func(c net.Conn) error {
			m, err := mumbleJoin(c, "ann", password)
			if err == nil && check != nil {
				err = check(m)
			}
			return err
		}
	}
	password := s.option(t, "password")
	if len(password) != 20 {
		t.Fatalf("generated password has %d characters, want 20", len(password))
	}
	wantWelcome := func(w string) func(*mumbleSession) error {
		return func(m *mumbleSession) error {
			if m.welcome != w {
				return fmt.Errorf("welcome text %q, want %q", m.welcome, w)
			}
			return nil
		}
	}
	s.prove(t, "login with the server password", join(password, wantWelcome("Welcome to this Mumble server, reached through Tor.")))

	s.checkConfinement(t, "tails-server-mumble")

	t.Run("wrong password is rejected", func(t *testing.T) {
		s.prove(t, "Reject for a wrong password", func(c net.Conn) error {
			m, err := mumbleLogin(c, "eve", password+"x")
			if err != nil {
				return err
			}
			if m.synced || m.rejectType != mumbleRejectWrongServerPW {
				return fmt.Errorf("synced %v, reject type %d (%s); want WrongServerPW", m.synced, m.rejectType, m.rejectReason)
			}
			return nil
		})
	})

	t.Run("share", func(t *testing.T) {
		var sh apitype.Share
		s.jsonOut(t, &sh, "share", "mumble")
		if want := fmt.Sprintf("mumble://%s:64738", s.addr); sh.URI != want || sh.OnionPort != 64738 {
			t.Errorf("share uri %q port %d, want %q", sh.URI, sh.OnionPort, want)
		}
		if len(sh.Details) != 1 || sh.Details[0].Value != password || !sh.Details[0].Secret {
			t.Errorf("share details %+v, want the server password as a secret", sh.Details)
		}
		if !strings.Contains(sh.Instructions, "Mumble") {
			t.Errorf("share instructions %q", sh.Instructions)
		}
	})

	t.Run("no secrets or addresses in the log", func(t *testing.T) {
		logs, err := client.New(s.d.socket).Logs(context.Background(), "mumble", 1000)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(logs, "\n")
		for _, bad := range []string{password, "SuperUser' set to"} {
			if strings.Contains(all, bad) {
				t.Errorf("backend log contains %q:\n%s", bad, all)
			}
		}
		if clear := regexp.MustCompile(`New connection: <<[0-9]+\.[0-9]+\.`).FindString(all); clear != "" {
			t.Errorf("backend log shows a client address in clear: %q", clear)
		}
		if !strings.Contains(all, "IP address obfuscation enabled") {
			t.Errorf("murmurd does not say it obfuscates addresses:\n%s", all)
		}
	})

	t.Run("kill -9 of murmurd", func(t *testing.T) {
		s.kill9(t)
		s.prove(t, "login after the restart", join(password, nil))
	})

	t.Run("set-option password", func(t *testing.T) {
		s.set(t, "password", "Second-Password-42")
		s.prove(t, "login with the new password", join("Second-Password-42", nil))
		s.prove(t, "old password rejected", func(c net.Conn) error {
			m, err := mumbleLogin(c, "ann", password)
			if err == nil && m.rejectType != mumbleRejectWrongServerPW {
				err = fmt.Errorf("old password: synced %v, reject %d", m.synced, m.rejectType)
			}
			return err
		})
		password = "Second-Password-42"
	})

	t.Run("set-option welcome-text", func(t *testing.T) {
		s.set(t, "welcome-text", "Hello <b>group</b>")
		s.prove(t, "new welcome text", join(password, wantWelcome("Hello <b>group</b>")))
	})

	t.Run("set-option bandwidth", func(t *testing.T) {
		s.set(t, "bandwidth", "40000")
		s.prove(t, "ServerSync carries the new bandwidth", join(password, func(m *mumbleSession) error {
			if m.maxBandwidth != 40000 {
				return fmt.Errorf("max_bandwidth %d, want 40000", m.maxBandwidth)
			}
			return nil
		}))
	})

	t.Run("set-option max-users", func(t *testing.T) {
		// murmurd hands out session ids from a pool of max-users: when it
		// is empty it closes a new connection before the TLS handshake.
		second := func(wantIn bool) func(net.Conn) error {
			return func(c net.Conn) error {
				if _, err := mumbleJoin(c, "ann", password); err != nil {
					return err
				}
				c2, err := s.dial()
				if err != nil {
					return err
				}
				defer c2.Close()
				c2.SetDeadline(time.Now().Add(45 * time.Second))
				_, err = mumbleJoin(c2, "bob", password)
				switch {
				case wantIn && err != nil:
					return fmt.Errorf("second user: %w", err)
				case !wantIn && err == nil:
					return errors.New("a second user joined with max-users 1")
				case !wantIn && !strings.Contains(err.Error(), "TLS handshake"):
					return fmt.Errorf("second user: %w, want the connection closed before TLS", err)
				}
				return nil
			}
		}
		s.set(t, "max-users", "1")
		s.prove(t, "a second user is refused while the first is in", second(false))
		s.set(t, "max-users", "20")
		s.prove(t, "two users with max-users 20", second(true))
	})

	t.Run("hostile values", func(t *testing.T) {
		count := func(t *testing.T) int { return iniDirectives(s.config(t, "murmur.ini")) }
		s.hostile(t, "welcome-text", count, func(t *testing.T, v string) {
			s.prove(t, "hostile welcome text arrives verbatim", join(password, wantWelcome(v)))
		})
		s.hostile(t, "password", count, func(t *testing.T, v string) {
			s.prove(t, "login with a hostile password", join(v, nil))
			password = v
		})
	})
}

// BenchmarkEnable_mumble measures the seconds from `enable mumble` (the
// package installed, the service enabled once before so its client and
// database exist) to the first ServerSync through the onion, from a client
// tor started before the timer.
func BenchmarkEnable_mumble(b *testing.B) {
	benchEnable(b, "mumble", "murmurd", func(c net.Conn, svc apitype.Service, secret string) error {
		_, err := mumbleJoin(c, "bench", secret)
		return err
	}, "password")
}

// benchEnable times enable → first successful proof through the onion for
// a catalog service. secretOption names the option proof needs (or "").
func benchEnable(b *testing.B, name, program string, proof func(net.Conn, apitype.Service, string) error, secretOption string) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	if _, err := exec.LookPath(program); err != nil {
		b.Fatalf("%s not installed: run scripts/deps.sh", program)
	}
	c := client.New(benchDaemonWith(b).socket)
	ctx := context.Background()
	if _, err := c.Enable(ctx, name, 4*time.Minute); err != nil {
		b.Fatal(err)
	}
	secret := ""
	if secretOption != "" {
		o, err := c.GetOption(ctx, name, secretOption, true)
		if err != nil {
			b.Fatal(err)
		}
		secret = o.Value
	}
	svc, err := c.Info(ctx, name, true)
	if err != nil {
		b.Fatal(err)
	}
	timeEnables(b, c, name, func(socksAddr string) error {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := socks.Dial(dctx, socksAddr, fmt.Sprintf("%s:%d", svc.OnionAddress, svc.OnionPort), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		return proof(conn, svc, secret)
	})
}

// timeEnables reports the median seconds from `enable NAME` to the first
// attempt that succeeds through the onion, over b.N iterations; each
// starts from the service disabled and a fresh client tor holding a
// credential for it. The service must have been enabled once.
func timeEnables(b *testing.B, c *client.Client, name string, attempt func(socksAddr string) error) {
	ctx := context.Background()
	if _, err := c.AddClient(ctx, name, "bench"); err != nil {
		b.Fatal(err)
	}
	cl, err := c.Client(ctx, name, "bench")
	if err != nil || cl.Credential == "" {
		b.Fatalf("client show: %v (credential %t)", err, cl.Credential != "")
	}
	var secs []float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := c.Disable(ctx, name); err != nil {
			b.Fatal(err)
		}
		authDir := b.TempDir()
		if err := os.WriteFile(filepath.Join(authDir, "bench.auth_private"), []byte(cl.Credential+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		tr, err := tnet.StartTor(tctx, fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano()), []string{"ClientOnionAuthDir " + authDir})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := c.Enable(ctx, name, time.Millisecond); err != nil {
			var ce *client.Error
			if !errors.As(err, &ce) {
				b.Fatal(err)
			}
		}
		limit := time.Now().Add(3 * time.Minute)
		for {
			err := attempt(tr.SocksAddr)
			if err == nil {
				break
			}
			if time.Now().After(limit) {
				b.Fatalf("no successful exchange within 3 minutes: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		secs = append(secs, time.Since(start).Seconds())
		b.StopTimer()
		tr.Stop()
		b.StartTimer()
	}
	b.ReportMetric(median(secs), "s-enable-to-first-exchange")
}
