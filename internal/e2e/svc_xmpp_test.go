package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/socks"
	"tails-server/internal/testenv"
)

// A hand-written XMPP client (RFC 6120): stream header, STARTTLS, TLS with
// the certificate pinned to the fingerprint `share` shows, SASL PLAIN,
// resource binding, session; then presence and messages. encoding/xml
// reads the stream element by element.

const (
	nsStreams = "http://etherx.jabber.org/streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsMUC     = "http://jabber.org/protocol/muc"
)

// xmppNode is one element of the stream, with its children.
type xmppNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xmppNode `xml:",any"`
}

// child returns the first child element named local, or nil.
func (n *xmppNode) child(local string) *xmppNode {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *xmppNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// xmppConn is a client stream.
type xmppConn struct {
	conn     net.Conn
	dec      *xml.Decoder
	host     string
	features *xmppNode
	jid      string // full JID after binding
	ids      int
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (x *xmppConn) send(s string) error {
	_, err := x.conn.Write([]byte(s))
	return err
}

func (x *xmppConn) id() string {
	x.ids++
	return "e2e" + strconv.Itoa(x.ids)
}

// openStream sends a stream header and reads the server's header and
// features.
func (x *xmppConn) openStream() error {
	if err := x.send(fmt.Sprintf(`<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' xmlns:stream='%s' version='1.0'>`, xmlText(x.host), nsStreams)); err != nil {
		return err
	}
	x.dec = xml.NewDecoder(bufio.NewReader(x.conn))
	for {
		tok, err := x.dec.Token()
		if err != nil {
			return fmt.Errorf("reading the stream header: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space != nsStreams || se.Name.Local != "stream" {
				return fmt.Errorf("stream starts with <%s>", se.Name.Local)
			}
			break
		}
	}
	f, err := x.next()
	if err != nil {
		return err
	}
	if f.XMLName.Local != "features" {
		return fmt.Errorf("got <%s>, want stream features", f.XMLName.Local)
	}
	x.features = f
	return nil
}

// next reads the next top-level element of the stream.
func (x *xmppConn) next() (*xmppNode, error) {
	for {
		tok, err := x.dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var n xmppNode
			if err := x.dec.DecodeElement(&n, &t); err != nil {
				return nil, err
			}
			if n.XMLName.Space == nsStreams && n.XMLName.Local == "error" {
				cond := "?"
				if len(n.Nodes) > 0 {
					cond = n.Nodes[0].XMLName.Local
				}
				return nil, fmt.Errorf("stream error: %s", cond)
			}
			return &n, nil
		case xml.EndElement:
			return nil, errors.New("the server closed the stream")
		}
	}
}

// xmppStartTLS opens a stream on conn, checks that the server offers
// nothing but STARTTLS before encryption, and upgrades to TLS, accepting
// only the certificate whose SHA-256 fingerprint is fp (as `share` prints
// it: upper-case hex pairs separated by colons).
func xmppStartTLS(conn net.Conn, host, fp string) (*xmppConn, error) {
	x := &xmppConn{conn: conn, host: host}
	if err := x.openStream(); err != nil {
		return nil, err
	}
	st := x.features.child("starttls")
	if st == nil || st.child("required") == nil {
		return nil, errors.New("the server does not require STARTTLS")
	}
	if x.features.child("mechanisms") != nil {
		return nil, errors.New("the server offers SASL before TLS")
	}
	if err := x.send(`<starttls xmlns='` + nsTLS + `'/>`); err != nil {
		return nil, err
	}
	n, err := x.next()
	if err != nil {
		return nil, err
	}
	if n.XMLName.Local != "proceed" {
		return nil, fmt.Errorf("STARTTLS answered <%s>", n.XMLName.Local)
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName: host, MinVersion: tls.VersionTLS12,
		// Self-signed: pinned to the fingerprint instead of a CA.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			if got := certFingerprint(cs.PeerCertificates[0]); got != fp {
				return fmt.Errorf("certificate fingerprint %s, share shows %s", got, fp)
			}
			return cs.PeerCertificates[0].VerifyHostname(host)
		},
	})
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	x.conn = tc
	if err := x.openStream(); err != nil {
		return nil, err
	}
	return x, nil
}

func certFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// xmppAuthError is a SASL failure.
type xmppAuthError struct{ condition string }

func (e *xmppAuthError) Error() string { return "SASL failure: " + e.condition }

// login authenticates with SASL PLAIN, binds a resource and starts a
// session.
func (x *xmppConn) login(user, password string) error {
	mechs := x.features.child("mechanisms")
	plain := false
	if mechs != nil {
		for _, m := range mechs.Nodes {
			plain = plain || strings.TrimSpace(m.Text) == "PLAIN"
		}
	}
	if !plain {
		return errors.New("the server does not offer SASL PLAIN")
	}
	creds := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if err := x.send(`<auth xmlns='` + nsSASL + `' mechanism='PLAIN'>` + creds + `</auth>`); err != nil {
		return err
	}
	n, err := x.next()
	if err != nil {
		return err
	}
	if n.XMLName.Local != "success" {
		cond := "?"
		if len(n.Nodes) > 0 {
			cond = n.Nodes[0].XMLName.Local
		}
		return &xmppAuthError{cond}
	}
	if err := x.openStream(); err != nil {
		return err
	}
	if x.features.child("bind") == nil {
		return errors.New("no resource binding offered")
	}
	res, err := x.iq("set", "", `<bind xmlns='`+nsBind+`'><resource>e2e</resource></bind>`)
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if b := res.child("bind"); b == nil || b.child("jid") == nil {
		return errors.New("bind result without a JID")
	} else {
		x.jid = strings.TrimSpace(b.child("jid").Text)
	}
	if x.features.child("session") != nil {
		if _, err := x.iq("set", "", `<session xmlns='`+nsSession+`'/>`); err != nil {
			return fmt.Errorf("session: %w", err)
		}
	}
	return nil
}

// iq sends an IQ and returns its result, or an error naming the error
// condition.
func (x *xmppConn) iq(typ, to, payload string) (*xmppNode, error) {
	id := x.id()
	toAttr := ""
	if to != "" {
		toAttr = " to='" + xmlText(to) + "'"
	}
	if err := x.send(fmt.Sprintf(`<iq type='%s' id='%s'%s>%s</iq>`, typ, id, toAttr, payload)); err != nil {
		return nil, err
	}
	for {
		n, err := x.next()
		if err != nil {
			return nil, err
		}
		if n.XMLName.Local != "iq" || n.attr("id") != id {
			continue
		}
		if n.attr("type") == "error" {
			return n, fmt.Errorf("IQ error: %s", errorCondition(n))
		}
		return n, nil
	}
}

func errorCondition(n *xmppNode) string {
	if e := n.child("error"); e != nil && len(e.Nodes) > 0 {
		return e.Nodes[0].XMLName.Local
	}
	return "?"
}

// register creates an account in band (XEP-0077), before authentication.
func (x *xmppConn) register(user, password string) error {
	_, err := x.iq("set", "", `<query xmlns='jabber:iq:register'><username>`+xmlText(user)+`</username><password>`+xmlText(password)+`</password></query>`)
	return err
}

// waitFor reads stanzas until match accepts one.
func (x *xmppConn) waitStanza(what string, match func(*xmppNode) bool) (*xmppNode, error) {
	for {
		n, err := x.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", what, err)
		}
		if match(n) {
			return n, nil
		}
	}
}

// xmppSession connects through the onion and logs in.
func xmppSession(s *catalogSvc, fp, user, password string) (*xmppConn, error) {
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	x, err := xmppStartTLS(c, s.addr, fp)
	if err == nil {
		err = x.login(user, password)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return x, nil
}

// xmppExchange logs two accounts in through the onion and sends a chat
// message from the first to the second, which must receive it.
func xmppExchange(s *catalogSvc, fp string, from, fromPW, to, toPW string) error {
	a, err := xmppSession(s, fp, from, fromPW)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	defer a.conn.Close()
	b, err := xmppSession(s, fp, to, toPW)
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	defer b.conn.Close()
	// Available, so that a message to the bare JID is delivered now.
	if err := b.send(`<presence/>`); err != nil {
		return err
	}
	if _, err := b.waitStanza("own presence", func(n *xmppNode) bool { return n.XMLName.Local == "presence" }); err != nil {
		return err
	}
	body := fmt.Sprintf("hello %s from %s <&> %d", to, from, time.Now().UnixNano())
	if err := a.send(fmt.Sprintf(`<message type='chat' to='%s@%s' id='m1'><body>%s</body></message>`, to, s.addr, xmlText(body))); err != nil {
		return err
	}
	m, err := b.waitStanza("the message", func(n *xmppNode) bool {
		return n.XMLName.Local == "message" && n.child("body") != nil
	})
	if err != nil {
		return err
	}
	if got := m.child("body").Text; got != body || !strings.HasPrefix(m.attr("from"), from+"@"+s.addr+"/") {
		return fmt.Errorf("%s got %q from %s, want %q from %s", to, got, m.attr("from"), body, from)
	}
	return nil
}

// xmppJoin enters a group chat room and waits for the room's presence of
// the user itself.
func (x *xmppConn) join(room, nick string) error {
	if err := x.send(fmt.Sprintf(`<presence to='%s/%s'><x xmlns='%s'/></presence>`, xmlText(room), xmlText(nick), nsMUC)); err != nil {
		return err
	}
	p, err := x.waitStanza("room presence", func(n *xmppNode) bool {
		return n.XMLName.Local == "presence" && n.attr("from") == room+"/"+nick
	})
	if err != nil {
		return err
	}
	if p.attr("type") == "error" {
		return fmt.Errorf("joining %s: %s", room, errorCondition(p))
	}
	return nil
}

// xmppGroupChat has two accounts join room; the first one's groupchat
// message reaches the second.
func xmppGroupChat(s *catalogSvc, fp, room string, a1, p1, a2, p2 string) error {
	a, err := xmppSession(s, fp, a1, p1)
	if err != nil {
		return err
	}
	defer a.conn.Close()
	b, err := xmppSession(s, fp, a2, p2)
	if err != nil {
		return err
	}
	defer b.conn.Close()
	if err := a.join(room, a1); err != nil {
		return err
	}
	if err := b.join(room, a2); err != nil {
		return err
	}
	body := fmt.Sprintf("to the room from %s %d", a1, time.Now().UnixNano())
	if err := a.send(fmt.Sprintf(`<message type='groupchat' to='%s'><body>%s</body></message>`, room, xmlText(body))); err != nil {
		return err
	}
	_, err = b.waitStanza("the group message", func(n *xmppNode) bool {
		return n.XMLName.Local == "message" && n.attr("type") == "groupchat" &&
			n.attr("from") == room+"/"+a1 && n.child("body") != nil && n.child("body").Text == body
	})
	return err
}

// prosodyConfig parses prosody.cfg.lua with Lua itself, as prosody reads
// it (assignments, VirtualHost "x", Component "x" "muc"), and returns the
// number of directives and the value of tails_accounts.
func prosodyConfig(t *testing.T, path string) (int, string) {
	t.Helper()
	const reader = `
local count, vals = 0, {}
local function section() count = count + 1; return function() end end
local env = setmetatable({}, {
	__index = function(_, k)
		if k == "VirtualHost" or k == "Component" then return section end
		return vals[k]
	end,
	__newindex = function(_, k, v) count = count + 1; vals[k] = v end,
})
local f = assert(io.open(arg[1])); local text = f:read("a"); f:close()
assert(load(text, "=prosody.cfg.lua", "t", env))()
io.write(count, "\0", tostring(vals.tails_accounts))
`
	cmd := exec.Command("lua5.4", "-", path)
	cmd.Stdin = strings.NewReader(reader)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prosody.cfg.lua does not parse: %v: %s", err, out)
	}
	n, accounts, _ := strings.Cut(string(out), "\x00")
	count, err := strconv.Atoi(n)
	if err != nil {
		t.Fatalf("lua: %q", out)
	}
	return count, accounts
}

// listeningPorts returns the TCP ports process pid listens on.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// local_address rem_address st ... inode (field 9); 0A is LISTEN.
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			if i := strings.LastIndexByte(f[1], ':'); i >= 0 {
				p, _ := strconv.ParseInt(f[1][i+1:], 16, 32)
				ports = append(ports, int(p))
			}
		}
	}
	return ports
}

// TestServiceXMPP enables prosody from the catalog and proves it through
// the onion with a hand-written XMPP client: two accounts log in over TLS
// with SASL PLAIN and one's message reaches the other; group chat; then
// kill -9, each option, and hostile values.
func TestServiceXMPP(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "prosody")
	testenv.RequireProgram(t, "lua5.4")
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	const alicePW, bobPW = "alice-Pass-1", "bob Pass with spaces"
	d.mustCLI("set-option", "xmpp", "accounts", "# our group\nalice "+alicePW+"\nbob "+bobPW+"\n")
	if out := d.mustCLI("enable", "xmpp", "--wait", "240s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable xmpp:\n%s", out)
	}
	d.mustCLI("client", "add", "xmpp", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "xmpp", "ann", "--format", "auth-private"))
	sh, err := client.New(d.socket).Share(context.Background(), "xmpp", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &catalogSvc{d: d, name: "xmpp", addr: sh.OnionAddress, port: sh.OnionPort, client: newOnionClient(t, "xmpp-ann", cred)}
	fp := shareDetail(sh, "Certificate fingerprint (SHA-256)")
	if len(fp) != 95 {
		t.Fatalf("share shows certificate fingerprint %q", fp)
	}
	exchange := func(t *testing.T, what, from, fromPW, to, toPW string) {
		t.Helper()
		waitFor(t, 120*time.Second, what, func() error { return xmppExchange(s, fp, from, fromPW, to, toPW) })
	}
	// refused proves a login fails with not-authorized, once the onion
	// answers.
	refused := func(t *testing.T, user, password string) {
		t.Helper()
		waitFor(t, 120*time.Second, user+" refused", func() error {
			x, err := xmppSession(s, fp, user, password)
			if err == nil {
				x.conn.Close()
				return fmt.Errorf("%s logged in", user)
			}
			var ae *xmppAuthError
			if errors.As(err, &ae) && ae.condition == "not-authorized" {
				return nil
			}
			return err
		})
	}
	exchange(t, "alice's message reaches bob through the onion", "alice", alicePW, "bob", bobPW)

	t.Run("share", func(t *testing.T) {
		if sh.URI != "xmpp:"+s.addr || sh.OnionPort != 5222 {
			t.Errorf("share uri %q port %d", sh.URI, sh.OnionPort)
		}
		if got := shareDetail(sh, "Group chat room"); got != "group@conference."+s.addr {
			t.Errorf("room %q", got)
		}
		if !strings.Contains(sh.Instructions, "Pidgin") {
			t.Errorf("instructions %q", sh.Instructions)
		}
	})

	t.Run("wrong password and unknown account", func(t *testing.T) {
		refused(t, "alice", alicePW+"x")
		refused(t, "mallory", "whatever-123")
	})

	t.Run("client to server only", func(t *testing.T) {
		pid := s.backendPID(t)
		ports := listeningPorts(t, pid)
		local := d.service("xmpp").Details.LocalAddress
		_, lp, _ := net.SplitHostPort(local)
		if len(ports) != 1 || strconv.Itoa(ports[0]) != lp {
			t.Fatalf("prosody listens on %v, want only the client port %s", ports, lp)
		}
		// A message to another server bounces: there is no s2s.
		waitFor(t, 120*time.Second, "message to a remote server bounces", func() error {
			a, err := xmppSession(s, fp, "alice", alicePW)
			if err != nil {
				return err
			}
			defer a.conn.Close()
			a.send(`<message type='chat' to='someone@example.org' id='remote1'><body>out</body></message>`)
			m, err := a.waitStanza("the bounce", func(n *xmppNode) bool { return n.XMLName.Local == "message" && n.attr("id") == "remote1" })
			if err != nil {
				return err
			}
			if m.attr("type") != "error" {
				return fmt.Errorf("message to example.org: type %q", m.attr("type"))
			}
			return nil
		})
	})

	t.Run("group chat", func(t *testing.T) {
		waitFor(t, 120*time.Second, "groupchat message", func() error {
			return xmppGroupChat(s, fp, "group@conference."+s.addr, "alice", alicePW, "bob", bobPW)
		})
	})

	t.Run("no client address in the log", func(t *testing.T) {
		logs, err := client.New(d.socket).Logs(context.Background(), "xmpp", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if all := strings.Join(logs, "\n"); strings.Contains(all, "127.0.0.1") || strings.Contains(all, alicePW) {
			t.Fatalf("backend log names a client or a password:\n%s", all)
		}
	})

	t.Run("kill -9 of prosody", func(t *testing.T) {
		s.kill9(t)
		exchange(t, "message after the restart", "bob", bobPW, "alice", alicePW)
	})

	t.Run("set-option registration", func(t *testing.T) {
		try := func() error {
			c, err := s.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			x, err := xmppStartTLS(c, s.addr, fp)
			if err != nil {
				return err
			}
			return x.register("carol", "carol-Pass-3")
		}
		waitFor(t, 120*time.Second, "registration refused while off", func() error {
			if err := try(); err == nil || !strings.Contains(err.Error(), "IQ error") {
				return fmt.Errorf("registration with registration off: %v", err)
			}
			return nil
		})
		s.set(t, "registration", "true")
		if conf := s.config(t, "prosody.cfg.lua"); !strings.Contains(conf, "allow_registration = true") {
			t.Fatalf("config not re-rendered:\n%s", conf)
		}
		waitFor(t, 120*time.Second, "carol registers", try)
		exchange(t, "carol writes to alice", "carol", "carol-Pass-3", "alice", alicePW)
		s.set(t, "registration", "false")
		waitFor(t, 120*time.Second, "registration refused again", func() error {
			if err := try(); err == nil || !strings.Contains(err.Error(), "IQ error") {
				return fmt.Errorf("registration after turning it off: %v", err)
			}
			return nil
		})
	})

	t.Run("set-option accounts", func(t *testing.T) {
		s.set(t, "accounts", "alice new-Alice-pass\ndave dave-Pass-4")
		exchange(t, "alice's new password, dave created", "alice", "new-Alice-pass", "dave", "dave-Pass-4")
		refused(t, "alice", alicePW)
		refused(t, "bob", bobPW) // removed from the list: deleted
		// carol registered herself: the list does not manage her.
		exchange(t, "carol kept", "carol", "carol-Pass-3", "dave", "dave-Pass-4")
		_, stderr, code := d.in(t).cli("set-option", "xmpp", "accounts", "alice short")
		wantOneLineError(t, stderr, code, 1, "accounts")
		_, stderr, code = d.in(t).cli("set-option", "xmpp", "accounts", "alice pass-word-1\nAlice other-pass-2")
		wantOneLineError(t, stderr, code, 1, "accounts")
		// nodeprep accepts what the pattern accepts; a repeated user is
		// refused by the hook and the old list stays.
		_, stderr, code = d.in(t).cli("set-option", "xmpp", "accounts", "eve pass-word-1\neve other-pass-2")
		wantOneLineError(t, stderr, code, 1, "line 2 repeats")
		if got := s.option(t, "accounts"); got != "alice new-Alice-pass\ndave dave-Pass-4" {
			t.Fatalf("refused lists changed the option to %q", got)
		}
	})

	t.Run("set-option room", func(t *testing.T) {
		s.set(t, "room", "team")
		if sh, _ := client.New(d.socket).Share(context.Background(), "xmpp", ""); shareDetail(sh, "Group chat room") != "team@conference."+s.addr {
			t.Errorf("share room %q", shareDetail(sh, "Group chat room"))
		}
		waitFor(t, 120*time.Second, "groupchat in the new room", func() error {
			return xmppGroupChat(s, fp, "team@conference."+s.addr, "alice", "new-Alice-pass", "dave", "dave-Pass-4")
		})
		s.set(t, "room", "")
		if conf := s.config(t, "prosody.cfg.lua"); strings.Contains(conf, "Component") {
			t.Fatalf("group chat still configured:\n%s", conf)
		}
		waitFor(t, 120*time.Second, "no group chat when the room is empty", func() error {
			a, err := xmppSession(s, fp, "alice", "new-Alice-pass")
			if err != nil {
				return err
			}
			defer a.conn.Close()
			if err := a.join("team@conference."+s.addr, "alice"); err == nil {
				return errors.New("joined a room with group chat off")
			}
			return nil
		})
		s.set(t, "room", "group")
	})

	t.Run("hostile values", func(t *testing.T) {
		cfg := filepath.Join(d.service("xmpp").Details.DataDir, "config", "prosody.cfg.lua")
		count := func(t *testing.T) int { n, _ := prosodyConfig(t, cfg); return n }
		s.hostile(t, "room", count, func(t *testing.T, v string) { t.Fatalf("room took %q", v) })
		s.hostile(t, "accounts", count, func(t *testing.T, v string) { t.Fatalf("accounts took %q", v) })
		// Hostile passwords land verbatim in the Lua string and work.
		want := count(t)
		marker := filepath.Join(t.TempDir(), "pwned")
		for _, pw := range []string{`quo"te 'single' ]] --[[`, "{{.port}} {{ printf \"x\" }}", "$(touch " + marker + ") `id`", "semi;colon # hash", `back\slash\`} {
			v := "alice new-Alice-pass\ndave " + pw
			pid := s.backendPID(t)
			d.in(t).mustCLI("set-option", "xmpp", "accounts", v)
			s.waitRestarted(t, pid)
			n, accounts := prosodyConfig(t, cfg)
			if n != want || accounts != v {
				t.Fatalf("with password %q: %d directives (want %d), tails_accounts %q", pw, n, want, accounts)
			}
			exchange(t, "dave with a hostile password", "dave", pw, "alice", "new-Alice-pass")
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("a password ran a command")
			}
		}
	})
}

// BenchmarkEnable_xmpp measures the seconds from `enable xmpp` (the
// package installed, the service enabled once before so that its
// certificate, accounts and client exist) to the first successful login
// (STARTTLS, TLS, SASL PLAIN, bind) through the onion, from a client tor
// started before the timer.
func BenchmarkEnable_xmpp(b *testing.B) {
	if _, err := exec.LookPath("prosody"); err != nil {
		b.Fatal("prosody not installed: run scripts/deps.sh")
	}
	benchEnableRoot(b, "xmpp", func(ctx context.Context, c *client.Client) error {
		_, err := c.SetOption(ctx, "xmpp", "accounts", "bench bench-Pass-1")
		return err
	}, func(sh apitype.Share, socksAddr string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := socks.Dial(ctx, socksAddr, net.JoinHostPort(sh.OnionAddress, strconv.Itoa(sh.OnionPort)), nil)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		x, err := xmppStartTLS(c, sh.OnionAddress, shareDetail(sh, "Certificate fingerprint (SHA-256)"))
		if err != nil {
			return err
		}
		return x.login("bench", "bench-Pass-1")
	})
}
