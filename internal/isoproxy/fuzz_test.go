package isoproxy

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzSOCKSRequest feeds arbitrary client bytes to the handshake: it must
// never panic, accept only what it can forward (a CONNECT with a valid
// host and a port), answer with well-formed replies, and never let a
// reserved username through or produce one.
func FuzzSOCKSRequest(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80})
	f.Add(cat([]byte{5, 1, 0, 5, 1, 0, 3, 15}, []byte("www.example.com"), []byte{1, 187}))
	f.Add(cat([]byte{5, 2, 0, 2, 1, 5}, []byte("alice"), []byte{1, 'p', 5, 1, 0, 4}, make([]byte, 16), []byte{0, 80}))
	f.Add(cat([]byte{5, 1, 2, 1, 9}, []byte("<torS0X>0"), []byte{0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 1}))
	f.Add([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0})
	f.Add([]byte("CONNECT example.com:443 HTTP/1.1\r\n\r\n"))
	f.Add([]byte{5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 5, '[', ':', ':', '1', ']', 0, 80})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), &out}
		req, err := handshake(rw, func(u string) bool { return strings.HasPrefix(u, ReservedPrefix) })
		if err != nil {
			if req != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		if req.port == 0 || req.host == "" {
			t.Fatalf("accepted a request without host or port: %+v", req)
		}
		if checkName([]byte(req.host)) != nil {
			t.Fatalf("accepted host %q", req.host)
		}
		if req.cred != nil && strings.HasPrefix(req.cred.user, ReservedPrefix) {
			t.Fatal("accepted a reserved username")
		}
		// Accepted: the only replies are the method choice and, with
		// authentication, its success.
		o := out.Bytes()
		if len(o) < 2 || o[0] != 5 || (o[1] != 0 && o[1] != 2) {
			t.Fatalf("accepted with reply %x", o)
		}
		if (o[1] == 2) != (req.cred != nil) || (o[1] == 2 && !bytes.Equal(o[2:], []byte{1, 0})) || (o[1] == 0 && len(o) != 2) {
			t.Fatalf("accepted with reply %x, credentials %v", o, req.cred != nil)
		}
		for _, k := range []string{siteKey(req.host, req.cred), connKey(1, req.cred)} {
			if u := username([]byte("s"), k); strings.HasPrefix(u, ReservedPrefix) || len(u) > 255 {
				t.Fatalf("produced username %q", u)
			}
		}
		_ = Site(req.host)
	})
}
