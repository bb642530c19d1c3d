package tor

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// Replies as tor 0.4.9 sends them.
var replySeeds = []string{
	"250 OK\r\n",
	"250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/tmp/x/control_auth_cookie\"\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n",
	"250 AUTHCHALLENGE SERVERHASH=1D4D7A67C28B4DC5E0B4A56F2C0E2B9C2C7C9A1E0E6C9B5E4D1A7B8C9D0E1F2A SERVERNONCE=0C2B2E3D4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C\r\n",
	"250-version=0.4.9.11\r\n250 OK\r\n",
	"250+config-text=\r\nDataDirectory /tmp/d\r\n..x\r\n.\r\n250 OK\r\n",
	"552 Unrecognized key \"nope\"\r\n",
	"250-ServiceID=pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd\r\n250-PrivateKey=ED25519-V3:wCVtdRvuCmvESBaWyFbWlA==\r\n250 OK\r\n",
	"250-ONION_CLIENT_AUTH_VIEW\r\n250-CLIENT pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd x25519:FCV0c0ELDKKDpSFgVIB8Yow8Evj5iD+GoiTtK878NkQ= ClientName=bob Flags=Permanent\r\n250 OK\r\n",
	"650-CONF_CHANGED\r\n650-SocksPort=0\r\n650 OK\r\n",
	"650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n",
	"650+NS\r\nr relay AAAA\r\n.\r\n650 OK\r\n",
}

func FuzzReadReply(f *testing.F) {
	for _, s := range replySeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Join(replySeeds, "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		// Each reply consumes at least 5 bytes, so this ends.
		for range len(data) + 1 {
			r, err := readReply(br)
			if err != nil {
				return
			}
			if len(r.Lines) == 0 {
				t.Fatal("reply without lines")
			}
			// What callers do with replies must not panic either.
			replyErr(r)
			parseProtocolInfo(r)
			parseClientAuthView(r)
			ev := eventFromReply(r)
			parseAllEvents(ev)
		}
		t.Fatal("readReply made no progress")
	})
}

var eventSeeds = []string{
	`STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`,
	`STATUS_CLIENT WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore HOSTID="AAAA" HOSTADDR="127.0.0.1:5000"`,
	`CIRC 7 BUILT $AAAA~a,$BBBB=b BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY=pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd TIME_CREATED=2024-01-01T00:00:00.000000 SOCKS_USERNAME="u\"1" CONFLUX_ID=ABCD`,
	`CIRC 8 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2024-01-01T00:00:00.000000`,
	`STREAM 12 SUCCEEDED 7 127.0.0.1.$AAAA.exit:80 SOURCE_ADDR=127.0.0.1:5555 PURPOSE=USER SOCKS_USERNAME="alice" SOCKS_PASSWORD="x y" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-2 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD`,
	`HS_DESC UPLOAD pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd UNKNOWN $AAAA~relay1 p0y4GrdVk4nmHXzHHLC4SGmyVCI/Nv8aTqZl2d+G1Qo HSDIR_INDEX=0123`,
	`HS_DESC UPLOADED pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd UNKNOWN $AAAA~relay1`,
	`HS_DESC FAILED pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd NO_AUTH $AAAA~relay1 p0y4 REASON=UPLOAD_REJECTED`,
	`CONF_CHANGED`,
	`STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 SUMMARY="a \101\\ \"q\" \n"`,
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		typ, _, _ := strings.Cut(raw, " ")
		parseAllEvents(Event{Type: typ, Raw: raw})
		if rest, ok := strings.CutPrefix(raw, "STATUS_CLIENT "); ok {
			if b, ok := ParseBootstrapPhase(rest); ok && (b.Progress < 0 || b.Progress > 100) {
				t.Fatalf("progress %d out of range", b.Progress)
			}
		}
	})
}

func parseAllEvents(ev Event) {
	ParseBootstrap(ev)
	ParseBootstrapPhase(ev.Raw)
	ParseCirc(ev)
	ParseStream(ev)
	ParseHSDesc(ev)
	parseArgs(ev.Raw)
}
