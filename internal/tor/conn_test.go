package tor

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"tails-server/internal/onionkey"
)

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want *reply
	}{
		{"single", "250 OK\r\n", &reply{Code: 250, Lines: []replyLine{{Code: 250, Text: "OK"}}}},
		{"multi", "250-version=0.4.9.11\r\n250 OK\r\n", &reply{Code: 250, Lines: []replyLine{{Code: 250, Text: "version=0.4.9.11"}, {Code: 250, Text: "OK"}}}},
		{"data", "250+config-text=\r\nSocksPort 0\r\n..dotted\r\n.\r\n250 OK\r\n", &reply{Code: 250, Lines: []replyLine{
			{Code: 250, Text: "config-text=", HasData: true, Data: "SocksPort 0\n.dotted"}, {Code: 250, Text: "OK"}}}},
		{"empty data", "250+k=\r\n.\r\n250 OK\r\n", &reply{Code: 250, Lines: []replyLine{{Code: 250, Text: "k=", HasData: true}, {Code: 250, Text: "OK"}}}},
		{"bare LF", "552 Unrecognized key \"x\"\n", &reply{Code: 552, Lines: []replyLine{{Code: 552, Text: `Unrecognized key "x"`}}}},
		{"empty text", "250 \r\n", &reply{Code: 250, Lines: []replyLine{{Code: 250, Text: ""}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "25\r\n", "25x OK\r\n", "250*OK\r\n", "250-a\r\n251 OK\r\n", "250-a\r\n", "250+a\r\nno end\r\n", "250 OK"} {
		if r, err := readReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("readReply(%q) = %+v, want an error", bad, r)
		}
	}
	long := "250 " + strings.Repeat("x", maxLineLen+10) + "\r\n"
	if _, err := readReply(bufio.NewReader(strings.NewReader(long))); err == nil {
		t.Errorf("readReply accepted a line longer than maxLineLen")
	}
}

func TestParseArgs(t *testing.T) {
	a, err := parseArgs(`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done \"x\" \\ \101\n" $AA=nick,$BB~n2 Tor="0.4"`)
	if err != nil {
		t.Fatal(err)
	}
	want := args{{"", "NOTICE"}, {"", "BOOTSTRAP"}, {"PROGRESS", "100"}, {"TAG", "done"}, {"SUMMARY", "Done \"x\" \\ A\n"}, {"", "$AA=nick,$BB~n2"}, {"Tor", "0.4"}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got %q\nwant %q", a, want)
	}
	for _, bad := range []string{`K="open`, `"open`, `K="x\`} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) accepted an unterminated string", bad)
		}
	}
}

func TestGetInfo(t *testing.T) {
	c, f := newFake(t)
	ch := make(chan map[string]string, 1)
	errc := async(func() error {
		m, err := c.GetInfo(testCtx(t), "version", "config-text", "status/bootstrap-phase")
		ch <- m
		return err
	})
	f.expect("GETINFO version config-text status/bootstrap-phase")
	f.send("250-version=0.4.9.11", "250+config-text=", "SocksPort 0", "..hidden", ".",
		`250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"`, "250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"version":                "0.4.9.11",
		"config-text":            "SocksPort 0\n.hidden",
		"status/bootstrap-phase": `NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"`,
	}
	if m := <-ch; !reflect.DeepEqual(m, want) {
		t.Errorf("got %q, want %q", m, want)
	}
	b, ok := ParseBootstrapPhase(want["status/bootstrap-phase"])
	if !ok || b.Progress != 0 || b.Summary != "Starting" || b.Tag != "starting" {
		t.Errorf("ParseBootstrapPhase = %+v, %v", b, ok)
	}

	errc = async(func() error { _, err := c.GetInfo(testCtx(t), "nope"); return err })
	f.expect("GETINFO nope")
	f.send(`552 Unrecognized key "nope"`)
	err := wait(t, errc)
	var re *ReplyError
	if !errors.As(err, &re) || re.Code != 552 || re.Text != `Unrecognized key "nope"` {
		t.Errorf("error = %v, want ReplyError 552", err)
	}
}

func TestGetConfSetConf(t *testing.T) {
	c, f := newFake(t)
	ch := make(chan map[string][]string, 1)
	errc := async(func() error {
		m, err := c.GetConf(testCtx(t), "hiddenserviceport", "SocksPort", "Nickname")
		ch <- m
		return err
	})
	f.expect("GETCONF hiddenserviceport SocksPort Nickname")
	f.send("250-HiddenServicePort=80 127.0.0.1:8080", "250-HiddenServicePort=81 127.0.0.1:8081", "250-SocksPort=0", "250 Nickname")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"hiddenserviceport": {"80 127.0.0.1:8080", "81 127.0.0.1:8081"},
		"SocksPort":         {"0"},
		"Nickname":          nil,
	}
	if m := <-ch; !reflect.DeepEqual(m, want) {
		t.Errorf("got %q, want %q", m, want)
	}

	errc = async(func() error {
		return c.SetConf(testCtx(t), KeyValue{"Nickname", "ab"}, KeyValue{"Log", "notice file /tmp/x"}, KeyValue{"SocksPort", ""})
	})
	f.expect(`SETCONF Nickname="ab" Log="notice file /tmp/x" SocksPort`)
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	errc = async(func() error { return c.Signal(testCtx(t), "newnym") })
	f.expect("SIGNAL NEWNYM")
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
}

func TestEventsInterleavedWithReplies(t *testing.T) {
	c, f := newFake(t)
	type sub struct {
		ch     <-chan Event
		cancel func()
	}
	subc := make(chan sub, 1)
	errc := async(func() error {
		ch, cancel, err := c.Subscribe("circ", "HS_DESC")
		subc <- sub{ch, cancel}
		return err
	})
	f.expect("SETEVENTS CIRC HS_DESC")
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	s := <-subc

	errc = async(func() error {
		m, err := c.GetInfo(testCtx(t), "version")
		if err == nil && m["version"] != "0.4.9.11" {
			err = fmt.Errorf("version = %q", m["version"])
		}
		return err
	})
	f.expect("GETINFO version")
	// Events before, inside a multi-line reply's gap and after it.
	f.send("650 CIRC 1 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL")
	f.send("650-CONF_CHANGED", "650-SocksPort=0", "650 OK")
	f.send("250-version=0.4.9.11", "250 OK")
	f.send("650 HS_DESC UPLOADED pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd UNKNOWN $0123456789ABCDEF0123456789ABCDEF01234567~relay")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	ev1 := recvEvent(t, s.ch)
	if cc, ok := ParseCirc(ev1); !ok || cc.ID != "1" || cc.Status != "LAUNCHED" || cc.Purpose != "GENERAL" {
		t.Errorf("first event %+v parsed as %+v", ev1, cc)
	}
	ev2 := recvEvent(t, s.ch) // CONF_CHANGED is not subscribed here
	if d, ok := ParseHSDesc(ev2); !ok || d.Action != "UPLOADED" || d.Address != "pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd" {
		t.Errorf("second event %+v parsed as %+v", ev2, d)
	}

	// A second subscriber widens the set; cancelling narrows it again.
	subc2 := make(chan sub, 1)
	errc = async(func() error {
		ch, cancel, err := c.Subscribe("CONF_CHANGED")
		subc2 <- sub{ch, cancel}
		return err
	})
	f.expect("SETEVENTS CIRC CONF_CHANGED HS_DESC")
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	s2 := <-subc2
	f.send("650-CONF_CHANGED", "650-SocksPort=0", "650-Nickname", "650 OK")
	ev3 := recvEvent(t, s2.ch)
	if ev3.Type != "CONF_CHANGED" || !reflect.DeepEqual(ev3.Lines, []string{"SocksPort=0", "Nickname"}) {
		t.Errorf("CONF_CHANGED event = %+v", ev3)
	}
	done := async(func() error { s.cancel(); return nil })
	f.expect("SETEVENTS CONF_CHANGED")
	f.send("250 OK")
	wait(t, done)
	if _, ok := <-s.ch; ok {
		t.Errorf("channel still open after cancel")
	}
	s.cancel() // idempotent, sends nothing
}

func recvEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return Event{}
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	c, f := newFake(t)
	var ch <-chan Event
	errc := async(func() error {
		var err error
		ch, _, err = c.Subscribe("CIRC")
		return err
	})
	f.expect("SETEVENTS CIRC")
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	n := EventBuffer + 100
	for i := range n {
		f.send(fmt.Sprintf("650 CIRC %d LAUNCHED", i))
	}
	errc = async(func() error { _, err := c.GetInfo(testCtx(t), "version"); return err })
	f.expect("GETINFO version")
	f.send("250-version=1", "250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	ev := recvEvent(t, ch)
	if cc, _ := ParseCirc(ev); cc.ID != "100" {
		t.Errorf("oldest kept event is circuit %s, want 100 (the oldest 100 dropped)", cc.ID)
	}
	if len(ch) != EventBuffer-1 {
		t.Errorf("%d events buffered, want %d", len(ch), EventBuffer-1)
	}
}

func TestConnectionClose(t *testing.T) {
	c, f := newFake(t)
	var ch <-chan Event
	errc := async(func() error {
		var err error
		ch, _, err = c.Subscribe("CIRC")
		return err
	})
	f.expect("SETEVENTS CIRC")
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	errc = async(func() error { _, err := c.GetInfo(testCtx(t), "version"); return err })
	f.expect("GETINFO version")
	f.conn.Close() // tor dies
	if err := wait(t, errc); err == nil {
		t.Fatal("pending command did not fail")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if c.Err() == nil || !strings.Contains(c.Err().Error(), "closed") {
		t.Errorf("Err() = %v", c.Err())
	}
	if _, ok := <-ch; ok {
		t.Errorf("event channel not closed")
	}
	if _, err := c.GetInfo(testCtx(t), "version"); err == nil {
		t.Errorf("command on a dead connection succeeded")
	}
	if _, _, err := c.Subscribe("CIRC"); err == nil {
		t.Errorf("Subscribe on a dead connection succeeded")
	}
}

func TestCloseByUs(t *testing.T) {
	c, _ := newFake(t)
	if c.Err() != nil {
		t.Fatalf("Err() = %v before Close", c.Err())
	}
	c.Close()
	<-c.Done()
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
}

func TestConcurrentCommands(t *testing.T) {
	c, f := newFake(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i)
			m, err := c.GetInfo(testCtx(t), key)
			if err == nil && m[key] != "v"+key {
				err = fmt.Errorf("%s = %q", key, m[key])
			}
			errs <- err
		}()
	}
	for range n {
		l := f.readLine()
		key := strings.TrimPrefix(l, "GETINFO ")
		if len(key)%2 > 0 {
			f.send("650 CIRC 9 BUILT") // noise nobody subscribed to
		}
		f.send(fmt.Sprintf("250-%s=v%s", key, key), "250 OK")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestUnsolicitedReplyEndsConnection(t *testing.T) {
	c, f := newFake(t)
	f.send("250 OK")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a reply without a command did not end the connection")
	}
}

func TestAuthenticateSafeCookie(t *testing.T) {
	for _, lying := range []bool{false, true} {
		t.Run(fmt.Sprint("lying=", lying), func(t *testing.T) {
			cookie := []byte("0123456789abcdef0123456789abcdef")
			path := filepath.Join(t.TempDir(), "control_auth_cookie")
			os.WriteFile(path, cookie, 0o600)
			c, f := newFake(t)
			errc := async(func() error { return c.Authenticate(testCtx(t), "") })
			f.expect("PROTOCOLINFO 1")
			f.send("250-PROTOCOLINFO 1", `250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="`+path+`"`, `250-VERSION Tor="0.4.9.11"`, "250 OK")
			l := f.readLine()
			nonceHex, ok := strings.CutPrefix(l, "AUTHCHALLENGE SAFECOOKIE ")
			if !ok {
				t.Fatalf("got %q, want AUTHCHALLENGE", l)
			}
			clientNonce, _ := hex.DecodeString(nonceHex)
			serverNonce := []byte(strings.Repeat("n", 32))
			mac := func(key string) string {
				h := hmac.New(sha256.New, []byte(key))
				h.Write(cookie)
				if lying {
					h.Write([]byte("x"))
				}
				h.Write(clientNonce)
				h.Write(serverNonce)
				return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
			}
			f.send("250 AUTHCHALLENGE SERVERHASH=" + mac(safeCookieServerKey) + " SERVERNONCE=" + hex.EncodeToString(serverNonce))
			if lying {
				if err := wait(t, errc); err == nil || !strings.Contains(err.Error(), "does not know the cookie") {
					t.Fatalf("error = %v", err)
				}
				return
			}
			want := "AUTHENTICATE " + strings.ToLower(mac(safeCookieClientKey))
			f.expect(want)
			f.send("250 OK")
			if err := wait(t, errc); err != nil {
				t.Fatal(err)
			}
			pi, _ := c.ProtocolInfo(testCtx(t)) // cached: nothing sent
			if pi.TorVersion != "0.4.9.11" || pi.CookieFile != path {
				t.Errorf("ProtocolInfo = %+v", pi)
			}
		})
	}
}

func TestAuthenticateChoice(t *testing.T) {
	cookiePath := filepath.Join(t.TempDir(), "cookie")
	os.WriteFile(cookiePath, []byte(strings.Repeat("c", 32)), 0o600)
	for _, tc := range []struct {
		name, auth, password, want, wantErr string
	}{
		{"null", "METHODS=NULL", "", "AUTHENTICATE", ""},
		{"password", "METHODS=HASHEDPASSWORD", "pw", "AUTHENTICATE " + hex.EncodeToString([]byte("pw")), ""},
		{"password missing", "METHODS=HASHEDPASSWORD", "", "", "needs a password"},
		{"cookie", `METHODS=COOKIE COOKIEFILE="` + cookiePath + `"`, "", "AUTHENTICATE " + hex.EncodeToString([]byte(strings.Repeat("c", 32))), ""},
		{"unreadable cookie, password", `METHODS=COOKIE,SAFECOOKIE,HASHEDPASSWORD COOKIEFILE="/nonexistent/c"`, "pw", "AUTHENTICATE " + hex.EncodeToString([]byte("pw")), ""},
		{"unreadable cookie", `METHODS=SAFECOOKIE COOKIEFILE="/nonexistent/c"`, "", "", "control cookie"},
		{"unknown", "METHODS=FANCY", "", "", "no supported authentication method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f := newFake(t)
			errc := async(func() error { return c.Authenticate(testCtx(t), tc.password) })
			f.expect("PROTOCOLINFO 1")
			f.send("250-PROTOCOLINFO 1", "250-AUTH "+tc.auth, `250-VERSION Tor="0.4.9.11"`, "250 OK")
			if tc.want != "" {
				f.expect(tc.want)
				f.send("250 OK")
			}
			err := wait(t, errc)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestAddOnion(t *testing.T) {
	k, _ := onionkey.GenerateServiceKey()
	ck1, _ := onionkey.GenerateClientKey()
	ck2, _ := onionkey.GenerateClientKey()
	line, err := addOnionLine(AddOnionRequest{
		Key:          k,
		Ports:        []PortMapping{{80, "127.0.0.1:8080"}, {81, ""}, {82, "8082"}, {83, "unix:/run/x.sock"}, {84, "[::1]:84"}},
		ClientAuthV3: []string{ck1.PublicBase32(), ck2.PublicBase32()},
		Flags:        []string{"detach", "V3Auth"},
		MaxStreams:   5,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "ADD_ONION " + k.TorBlob() + " Flags=Detach,V3Auth MaxStreams=5 Port=80,127.0.0.1:8080 Port=81 Port=82,8082 Port=83,unix:/run/x.sock Port=84,[::1]:84 ClientAuthV3=" + ck1.PublicBase32() + " ClientAuthV3=" + ck2.PublicBase32()
	if line != want {
		t.Errorf("got  %s\nwant %s", line, want)
	}

	c, f := newFake(t)
	ch := make(chan *AddOnionReply, 1)
	errc := async(func() error {
		r, err := c.AddOnion(testCtx(t), AddOnionRequest{Ports: []PortMapping{{80, "8080"}}, ClientAuthV3: []string{ck1.PublicBase32()}})
		ch <- r
		return err
	})
	f.expect("ADD_ONION NEW:ED25519-V3 Flags=V3Auth Port=80,8080 ClientAuthV3=" + ck1.PublicBase32())
	f.send("250-ServiceID="+k.Address(), "250-PrivateKey="+k.TorBlob(), "250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.ServiceID != k.Address() || r.Key == nil || r.Key.TorBlob() != k.TorBlob() {
		t.Errorf("reply = %+v", r)
	}

	// A key that does not match the ServiceID is an error.
	other, _ := onionkey.GenerateServiceKey()
	errc = async(func() error {
		_, err := c.AddOnion(testCtx(t), AddOnionRequest{Ports: []PortMapping{{80, ""}}})
		return err
	})
	f.expect("ADD_ONION NEW:ED25519-V3 Port=80")
	f.send("250-ServiceID="+k.Address(), "250-PrivateKey="+other.TorBlob(), "250 OK")
	if err := wait(t, errc); err == nil || strings.Contains(err.Error(), other.TorBlob()[12:30]) {
		t.Errorf("mismatched key: error = %v", err)
	}
}

func TestOnionClientAuth(t *testing.T) {
	k, _ := onionkey.GenerateServiceKey()
	ck, _ := onionkey.GenerateClientKey()
	c, f := newFake(t)
	errc := async(func() error { return c.OnionClientAuthAdd(testCtx(t), k.Address()+".onion", ck, "bob", true) })
	f.expect("ONION_CLIENT_AUTH_ADD " + k.Address() + " x25519:" + ck.PrivateBase64() + " ClientName=bob Flags=Permanent")
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	ch := make(chan []ClientAuthEntry, 1)
	errc = async(func() error {
		e, err := c.OnionClientAuthView(testCtx(t), "")
		ch <- e
		return err
	})
	f.expect("ONION_CLIENT_AUTH_VIEW")
	f.send("250-ONION_CLIENT_AUTH_VIEW", "250-CLIENT "+k.Address()+" x25519:"+ck.PrivateBase64()+" ClientName=bob Flags=Permanent", "250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	e := <-ch
	if len(e) != 1 || e[0].Address != k.Address() || e[0].ClientName != "bob" || !reflect.DeepEqual(e[0].Flags, []string{"Permanent"}) || e[0].Key.PrivateBase64() != ck.PrivateBase64() {
		t.Errorf("entries = %+v", e)
	}
	errc = async(func() error { return c.OnionClientAuthRemove(testCtx(t), strings.ToUpper(k.Address())) })
	f.expect("ONION_CLIENT_AUTH_REMOVE " + k.Address())
	f.send("251 No credentials for " + k.Address())
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	errc = async(func() error { return c.HSFetch(testCtx(t), k.Address()+".onion") })
	f.expect("HSFETCH " + k.Address())
	f.send("250 OK")
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	errc = async(func() error { return c.DelOnion(testCtx(t), k.Address()) })
	f.expect("DEL_ONION " + k.Address())
	f.send("552 Unknown Onion Service id")
	var re *ReplyError
	if err := wait(t, errc); !errors.As(err, &re) || re.Code != 552 {
		t.Errorf("DelOnion error = %v", err)
	}
}

func TestParseEvents(t *testing.T) {
	ev := func(raw string) Event {
		typ, _, _ := strings.Cut(raw, " ")
		return Event{Type: typ, Raw: raw}
	}
	b, ok := ParseBootstrap(ev(`STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`))
	if !ok || b != (Bootstrap{Severity: "NOTICE", Progress: 100, Tag: "done", Summary: "Done"}) {
		t.Errorf("ParseBootstrap = %+v, %v", b, ok)
	}
	b, ok = ParseBootstrap(ev(`STATUS_CLIENT WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore HOSTID="AAAA" HOSTADDR="127.0.0.1:5000"`))
	if !ok || b.Severity != "WARN" || b.Count != 3 || b.Reason != "CONNECTREFUSED" || b.Warning != "Connection refused" || b.HostAddr != "127.0.0.1:5000" {
		t.Errorf("ParseBootstrap warn = %+v, %v", b, ok)
	}
	if _, ok := ParseBootstrap(ev(`STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED`)); ok {
		t.Errorf("ParseBootstrap accepted CIRCUIT_ESTABLISHED")
	}
	if _, ok := ParseBootstrap(ev(`STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=x`)); ok {
		t.Errorf("ParseBootstrap accepted a bad PROGRESS")
	}

	cc, ok := ParseCirc(ev(`CIRC 7 BUILT $AAAA~a,$BBBB=b,$CCCC BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY=pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd TIME_CREATED=2024-01-01T00:00:00.000000 SOCKS_USERNAME="u 1" SOCKS_PASSWORD="p" CONFLUX_ID=ABCD`))
	want := Circ{ID: "7", Status: "BUILT", Path: []string{"$AAAA~a", "$BBBB=b", "$CCCC"}, BuildFlags: []string{"IS_INTERNAL", "NEED_CAPACITY"},
		Purpose: "HS_CLIENT_REND", HSState: "HSCR_JOINED", RendQuery: "pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd",
		TimeCreated: "2024-01-01T00:00:00.000000", SocksUsername: "u 1", SocksPassword: "p", ConfluxID: "ABCD"}
	cc.Keywords = nil
	if !ok || !reflect.DeepEqual(cc, want) {
		t.Errorf("ParseCirc = %+v, %v", cc, ok)
	}
	cc, ok = ParseCirc(ev(`CIRC 8 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL`))
	if !ok || cc.Path != nil || cc.Purpose != "GENERAL" {
		t.Errorf("ParseCirc without path = %+v", cc)
	}

	st, ok := ParseStream(ev(`STREAM 12 SUCCEEDED 7 127.0.0.1.$AAAA.exit:80 SOURCE_ADDR=127.0.0.1:5555 PURPOSE=USER SOCKS_USERNAME="alice" SOCKS_PASSWORD="x y" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-2 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD`))
	if !ok || st.ID != "12" || st.Status != "SUCCEEDED" || st.CircID != "7" || st.Target != "127.0.0.1.$AAAA.exit:80" ||
		st.SourceAddr != "127.0.0.1:5555" || st.SocksUsername != "alice" || st.SocksPassword != "x y" || st.ClientProtocol != "SOCKS5" ||
		!reflect.DeepEqual(st.IsoFields, []string{"SOCKS_USERNAME", "SOCKS_PASSWORD"}) {
		t.Errorf("ParseStream = %+v, %v", st, ok)
	}

	d, ok := ParseHSDesc(ev(`HS_DESC UPLOAD pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd UNKNOWN $AAAA~relay1 p0y4GrdVk4nmHXzHHLC4SGmyVCI/Nv8aTqZl2d+G1Qo HSDIR_INDEX=0123`))
	if !ok || d.Action != "UPLOAD" || d.AuthType != "UNKNOWN" || d.HSDir != "$AAAA~relay1" || d.DescriptorID != "p0y4GrdVk4nmHXzHHLC4SGmyVCI/Nv8aTqZl2d+G1Qo" || d.Keywords["HSDIR_INDEX"] != "0123" {
		t.Errorf("ParseHSDesc = %+v, %v", d, ok)
	}
	d, ok = ParseHSDesc(ev(`HS_DESC FAILED pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd NO_AUTH $AAAA~relay1 p0y4 REASON=UPLOAD_REJECTED`))
	if !ok || d.Action != "FAILED" || d.Reason != "UPLOAD_REJECTED" {
		t.Errorf("ParseHSDesc failed = %+v, %v", d, ok)
	}
	for _, p := range []func(Event) bool{
		func(e Event) bool { _, ok := ParseCirc(e); return ok },
		func(e Event) bool { _, ok := ParseStream(e); return ok },
		func(e Event) bool { _, ok := ParseHSDesc(e); return ok },
		func(e Event) bool { _, ok := ParseBootstrap(e); return ok },
	} {
		if p(ev(`NOTICE something`)) || p(ev("")) {
			t.Errorf("a parser accepted an event of another type")
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0.4.9.11", "0.4.8", 1}, {"0.4.8", "0.4.8.0", 0}, {"0.4.7.16", "0.4.8", -1}, {"0.4.10.1-alpha", "0.4.9.11", 1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if err := CheckVersion("/nonexistent/tor", "0.4.8"); err == nil || err.Error() != "tor not found: install Debian's tor (apt-get install tor)" {
		t.Errorf("CheckVersion(missing) = %v", err)
	}
}
