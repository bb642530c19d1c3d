package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

const infinoteStream = `<stream:stream version="1.0" xmlns="jabber:client" ` +
	`xmlns:stream="http://etherx.jabber.org/streams" to="gobby">`

// infinoteSession is what an infinote login saw.
type infinoteSession struct {
	plainFeatures string   // stream:features before TLS
	tlsFeatures   string   // stream:features after STARTTLS
	certSHA256    [32]byte // the server certificate's fingerprint
	authOK        bool     // SASL PLAIN with the password succeeded
}

// readUntil reads from r until the text read contains one of marks, and
// returns the text.
func readUntil(r io.Reader, marks ...string) (string, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 4096)
	for buf.Len() < 1<<16 {
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		for _, m := range marks {
			if strings.Contains(buf.String(), m) {
				return buf.String(), nil
			}
		}
		if err != nil {
			return buf.String(), fmt.Errorf("reading (got %q): %w", buf.String(), err)
		}
	}
	return buf.String(), fmt.Errorf("none of %q in %q", marks, buf.String())
}

// infinoteLogin speaks infinote's XMPP stream on conn: stream header,
// stream:features, STARTTLS, TLS handshake, the stream again, its features
// (SASL mechanisms), then SASL PLAIN with password.
func infinoteLogin(conn net.Conn, password string) (*infinoteSession, error) {
	s := &infinoteSession{}
	if _, err := io.WriteString(conn, infinoteStream); err != nil {
		return nil, err
	}
	f, err := readUntil(conn, "</stream:features>")
	if err != nil {
		return nil, fmt.Errorf("stream features: %w", err)
	}
	s.plainFeatures = f
	if !strings.Contains(f, `<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/>`) {
		return nil, fmt.Errorf("the server does not require STARTTLS: %q", f)
	}
	io.WriteString(conn, `<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>`)
	if _, err := readUntil(conn, "<proceed"); err != nil {
		return nil, fmt.Errorf("STARTTLS: %w", err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "gobby"})
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	s.certSHA256 = sha256.Sum256(tc.ConnectionState().PeerCertificates[0].Raw)
	io.WriteString(tc, infinoteStream)
	if s.tlsFeatures, err = readUntil(tc, "</stream:features>"); err != nil {
		return nil, fmt.Errorf("stream features over TLS: %w", err)
	}
	if !strings.Contains(s.tlsFeatures, "<mechanism>PLAIN</mechanism>") {
		return nil, fmt.Errorf("no SASL PLAIN among the features over TLS: %q", s.tlsFeatures)
	}
	io.WriteString(tc, `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN"/>`)
	if _, err := readUntil(tc, "<challenge"); err != nil {
		return nil, fmt.Errorf("SASL: %w", err)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00ann\x00" + password))
	fmt.Fprintf(tc, `<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">%s</response>`, plain)
	got, err := readUntil(tc, "<success", "<failure")
	if err != nil {
		return nil, fmt.Errorf("SASL: %w", err)
	}
	s.authOK = strings.Contains(got, "<success")
	return s, nil
}

// TestServiceGobby enables Debian's infinoted from the catalog and proves
// it through the onion: the infinote stream opens, STARTTLS and the TLS
// handshake complete, the server answers with its SASL mechanisms, and the
// password is checked. Then kill -9 (the certificate stays the same), each
// option, hostile values.
func TestServiceGobby(t *testing.T) {
	s := enableCatalogService(t, "gobby", "infinoted")
	password := s.option(t, "password")
	var cert [32]byte
	login := func(pw string, wantOK bool) func(net.Conn) error {
		return func(c net.Conn) error {
			l, err := infinoteLogin(c, pw)
			if err != nil {
				return err
			}
			if l.authOK != wantOK {
				return fmt.Errorf("SASL PLAIN accepted: %v, want %v", l.authOK, wantOK)
			}
			if cert != ([32]byte{}) && l.certSHA256 != cert {
				return fmt.Errorf("the server certificate changed: %x, was %x", l.certSHA256, cert)
			}
			cert = l.certSHA256
			return nil
		}
	}
	s.prove(t, "infinote stream, STARTTLS, features, password", login(password, true))
	data := s.d.service("gobby").Details.DataDir
	for _, f := range []string{"infinoted-key.pem", "infinoted-cert.pem"} {
		fi, err := os.Stat(filepath.Join(data, "data", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "infinoted-key.pem" && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", f, fi.Mode().Perm())
		}
	}

	s.checkConfinement(t, "tails-server-gobby")

	t.Run("wrong password is refused", func(t *testing.T) {
		s.prove(t, "wrong password refused", login(password+"x", false))
	})

	t.Run("share", func(t *testing.T) {
		var sh apitype.Share
		s.jsonOut(t, &sh, "share", "gobby")
		if want := fmt.Sprintf("infinote://%s:6523", s.addr); sh.URI != want {
			t.Errorf("share uri %q, want %q", sh.URI, want)
		}
		if len(sh.Details) != 1 || sh.Details[0].Value != password || !sh.Details[0].Secret {
			t.Errorf("share details %+v, want the password as a secret", sh.Details)
		}
	})

	t.Run("kill -9 of infinoted keeps the certificate", func(t *testing.T) {
		s.kill9(t)
		s.prove(t, "login after the restart, same certificate", login(password, true))
	})

	t.Run("set-option password", func(t *testing.T) {
		old := password
		s.set(t, "password", "Gobby.New-Pass42")
		password = "Gobby.New-Pass42"
		s.prove(t, "login with the new password", login(password, true))
		s.prove(t, "old password refused", login(old, false))
	})

	t.Run("set-option autosave-interval", func(t *testing.T) {
		s.set(t, "autosave-interval", "15")
		if conf := s.config(t, "infinoted.conf"); !strings.Contains(conf, "[autosave]\ninterval=15\n") {
			t.Fatalf("config not re-rendered:\n%s", conf)
		}
		s.prove(t, "login with autosave every 15 s", login(password, true))
	})

	t.Run("set-option sync-directory", func(t *testing.T) {
		s.set(t, "sync-directory", "plain/text")
		conf := s.config(t, "infinoted.conf")
		if !strings.Contains(conf, ";directory-sync\n") || !strings.Contains(conf, "directory="+filepath.Join(data, "data", "plain/text")+"\n") {
			t.Fatalf("config not re-rendered:\n%s", conf)
		}
		s.prove(t, "login with directory-sync", login(password, true))
		// The plugin makes the folder when it starts.
		waitFor(t, 30*time.Second, "plain-text folder made by directory-sync", func() error {
			_, err := os.Stat(filepath.Join(data, "data", "plain", "text"))
			return err
		})
		s.set(t, "sync-directory", "")
		if conf := s.config(t, "infinoted.conf"); strings.Contains(conf, "directory-sync") {
			t.Fatalf("directory-sync still configured:\n%s", conf)
		}
		s.prove(t, "login without directory-sync", login(password, true))
	})

	t.Run("hostile values", func(t *testing.T) {
		count := func(t *testing.T) int { return iniDirectives(s.config(t, "infinoted.conf")) }
		check := func(t *testing.T, _ string) { s.prove(t, "login after a hostile value", login(password, true)) }
		s.hostile(t, "password", count, check)
		s.hostile(t, "sync-directory", count, check)
		for _, v := range []string{"../outside", "a/../../b", ".hidden", "/abs"} {
			_, stderr, code := s.d.in(t).cli("set-option", "gobby", "sync-directory", v)
			wantOneLineError(t, stderr, code, 1, "sync-directory")
		}
	})
}

// BenchmarkEnable_gobby measures the seconds from `enable gobby` to the
// first SASL success over TLS through the onion.
func BenchmarkEnable_gobby(b *testing.B) {
	benchEnable(b, "gobby", "infinoted", func(c net.Conn, _ apitype.Service, secret string) error {
		l, err := infinoteLogin(c, secret)
		if err == nil && !l.authOK {
			err = fmt.Errorf("password refused")
		}
		return err
	}, "password")
}
