package tor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one asynchronous event from tor (a 650 reply).
type Event struct {
	Type string // the event type, e.g. "CIRC", "STATUS_CLIENT", "HS_DESC"
	// Raw is the text of the event's first line: the type and its
	// arguments, e.g. `STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 ...`.
	Raw string
	// Lines holds the text of further lines of a multi-line event (such
	// as CONF_CHANGED's "Key=Value" lines), without the final "OK".
	Lines []string
	// Data holds the data blocks of the event (NS, NEWCONSENSUS), their
	// lines joined with "\n".
	Data string
}

func eventFromReply(r *reply) Event {
	var ev Event
	for i, l := range r.Lines {
		if i == 0 {
			ev.Raw = l.Text
			t, _, _ := strings.Cut(l.Text, " ")
			ev.Type = t
		} else if i < len(r.Lines)-1 || l.Text != "OK" {
			ev.Lines = append(ev.Lines, l.Text)
		}
		if l.HasData {
			if ev.Data != "" {
				ev.Data += "\n"
			}
			ev.Data += l.Data
		}
	}
	return ev
}

// EventBuffer is how many events a subscriber's channel holds. The reader
// never waits for a subscriber: when the channel is full, the oldest event
// in it is dropped to make room for the new one.
const EventBuffer = 1024

// subscribeTimeout bounds the SETEVENTS command Subscribe and its cancel
// function send.
const subscribeTimeout = 30 * time.Second

type subscriber struct {
	types   map[string]bool
	ch      chan Event
	closed  bool         // guarded by Conn.evMu
	dropped atomic.Int64 // events dropped because ch was full
}

func (s *subscriber) close() {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// deliver never blocks: on a full channel it drops the oldest event.
func (s *subscriber) deliver(ev Event) {
	for {
		select {
		case s.ch <- ev:
			return
		default:
		}
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default:
		}
	}
}

func (c *Conn) dispatch(r *reply) {
	ev := eventFromReply(r)
	c.evMu.Lock()
	defer c.evMu.Unlock()
	for s := range c.subs {
		if s.types[ev.Type] {
			s.deliver(ev)
		}
	}
}

// Subscribe asks tor for events of the given types (e.g. "STATUS_CLIENT",
// "HS_DESC", "CIRC", "STREAM", "CONF_CHANGED") and returns a channel
// delivering them. The Conn sends SETEVENTS with the union of all its
// subscribers' types. Commands keep working while events flow.
//
// The channel holds EventBuffer events; a subscriber that falls further
// behind loses the oldest ones (the reader never waits). It is closed by
// cancel and when the connection is gone. Call cancel when done: it
// unsubscribes (sending SETEVENTS if the union shrank).
func (c *Conn) Subscribe(types ...string) (events <-chan Event, cancel func(), err error) {
	if len(types) == 0 {
		return nil, nil, argErr("event types", "none given")
	}
	s := &subscriber{types: map[string]bool{}, ch: make(chan Event, EventBuffer)}
	for _, t := range types {
		if err := checkToken("event type", t, reEventName); err != nil {
			return nil, nil, err
		}
		s.types[strings.ToUpper(t)] = true
	}

	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.evMu.Lock()
	if c.evClose {
		c.evMu.Unlock()
		return nil, nil, c.Err()
	}
	// Registered before SETEVENTS, so no event is missed.
	c.subs[s] = struct{}{}
	c.evMu.Unlock()
	if err := c.syncEvents(); err != nil {
		c.evMu.Lock()
		delete(c.subs, s)
		s.close()
		c.evMu.Unlock()
		return nil, nil, err
	}
	var once sync.Once
	cancel = func() {
		once.Do(func() {
			c.subMu.Lock()
			defer c.subMu.Unlock()
			c.evMu.Lock()
			delete(c.subs, s)
			s.close()
			c.evMu.Unlock()
			c.syncEvents() // best effort: a dead connection needs none
		})
	}
	return s.ch, cancel, nil
}

// syncEvents sends SETEVENTS with the union of the subscribers' types if
// it differs from what tor has. Call with subMu held.
func (c *Conn) syncEvents() error {
	c.evMu.Lock()
	if c.evClose {
		c.evMu.Unlock()
		return c.Err()
	}
	set := map[string]bool{}
	for s := range c.subs {
		for t := range s.types {
			set[t] = true
		}
	}
	sent := c.evSent
	c.evMu.Unlock()
	var list []string
	for t := range set {
		list = append(list, t)
	}
	slices.Sort(list)
	want := strings.Join(list, " ")
	if want == sent {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	line := "SETEVENTS"
	if want != "" {
		line += " " + want
	}
	if _, err := c.do(ctx, line); err != nil {
		return fmt.Errorf("tor: SETEVENTS: %w", err)
	}
	c.evMu.Lock()
	c.evSent = want
	c.evMu.Unlock()
	return nil
}

// Bootstrap is a bootstrap status: a STATUS_CLIENT BOOTSTRAP event or the
// value of GETINFO status/bootstrap-phase.
type Bootstrap struct {
	Severity string // NOTICE, or WARN when bootstrapping has a problem
	Progress int    // 0..100
	Tag      string // e.g. "conn_done", "done"
	Summary  string // e.g. "Connected to a relay"
	// Set on problems (Severity WARN):
	Warning        string
	Reason         string
	Count          int
	Recommendation string
	HostAddr       string
}

// ParseBootstrap parses a STATUS_CLIENT BOOTSTRAP event. ok is false for
// other events and malformed ones.
func ParseBootstrap(ev Event) (b Bootstrap, ok bool) {
	t, rest, _ := strings.Cut(ev.Raw, " ")
	if t != "STATUS_CLIENT" {
		return Bootstrap{}, false
	}
	return ParseBootstrapPhase(rest)
}

// ParseBootstrapPhase parses the value of GETINFO status/bootstrap-phase,
// e.g. `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`.
func ParseBootstrapPhase(s string) (b Bootstrap, ok bool) {
	a, err := parseArgs(s)
	if err != nil {
		return Bootstrap{}, false
	}
	pos, kw := a.positional(), a.keywords()
	if len(pos) < 2 || pos[1] != "BOOTSTRAP" {
		return Bootstrap{}, false
	}
	p, err := strconv.Atoi(kw["PROGRESS"])
	if err != nil || p < 0 || p > 100 {
		return Bootstrap{}, false
	}
	b = Bootstrap{
		Severity:       pos[0],
		Progress:       p,
		Tag:            kw["TAG"],
		Summary:        kw["SUMMARY"],
		Warning:        kw["WARNING"],
		Reason:         kw["REASON"],
		Recommendation: kw["RECOMMENDATION"],
		HostAddr:       kw["HOSTADDR"],
	}
	b.Count, _ = strconv.Atoi(kw["COUNT"])
	return b, true
}

// Circ is a CIRC event: a circuit changed status.
type Circ struct {
	ID            string   // circuit id
	Status        string   // LAUNCHED, BUILT, GUARD_WAIT, EXTENDED, FAILED, CLOSED
	Path          []string // LongNames ("$FINGERPRINT~nickname"), may be empty
	BuildFlags    []string // e.g. ONEHOP_TUNNEL, IS_INTERNAL, NEED_CAPACITY
	Purpose       string   // e.g. GENERAL, HS_CLIENT_REND, HS_SERVICE_INTRO
	HSState       string   // e.g. HSCR_JOINED
	RendQuery     string   // onion address of HS circuits, without ".onion"
	TimeCreated   string
	Reason        string
	RemoteReason  string
	SocksUsername string
	SocksPassword string
	ConfluxID     string
	// Keywords holds every KEY=VALUE argument, those above included.
	Keywords map[string]string
}

// ParseCirc parses a CIRC event. ok is false for other events and
// malformed ones.
func ParseCirc(ev Event) (c Circ, ok bool) {
	pos, kw, ok := eventArgs(ev, "CIRC")
	if !ok || len(pos) < 2 {
		return Circ{}, false
	}
	c = Circ{
		ID:            pos[0],
		Status:        pos[1],
		Purpose:       kw["PURPOSE"],
		HSState:       kw["HS_STATE"],
		RendQuery:     kw["REND_QUERY"],
		TimeCreated:   kw["TIME_CREATED"],
		Reason:        kw["REASON"],
		RemoteReason:  kw["REMOTE_REASON"],
		SocksUsername: kw["SOCKS_USERNAME"],
		SocksPassword: kw["SOCKS_PASSWORD"],
		ConfluxID:     kw["CONFLUX_ID"],
		Keywords:      kw,
	}
	if len(pos) > 2 && pos[2] != "" {
		c.Path = strings.Split(pos[2], ",")
	}
	if f := kw["BUILD_FLAGS"]; f != "" {
		c.BuildFlags = strings.Split(f, ",")
	}
	return c, true
}

// Stream is a STREAM event: a stream changed status.
type Stream struct {
	ID             string // stream id
	Status         string // NEW, NEWRESOLVE, REMAP, SENTCONNECT, SUCCEEDED, FAILED, CLOSED, DETACHED, ...
	CircID         string // "0" when not attached
	Target         string // "host:port"
	Reason         string
	RemoteReason   string
	Source         string
	SourceAddr     string
	Purpose        string
	SocksUsername  string
	SocksPassword  string
	ClientProtocol string // e.g. SOCKS5, HTTPCONNECT
	NymEpoch       string
	SessionGroup   string
	IsoFields      []string
	// Keywords holds every KEY=VALUE argument, those above included.
	Keywords map[string]string
}

// ParseStream parses a STREAM event. ok is false for other events and
// malformed ones.
func ParseStream(ev Event) (s Stream, ok bool) {
	pos, kw, ok := eventArgs(ev, "STREAM")
	if !ok || len(pos) < 4 {
		return Stream{}, false
	}
	s = Stream{
		ID:             pos[0],
		Status:         pos[1],
		CircID:         pos[2],
		Target:         pos[3],
		Reason:         kw["REASON"],
		RemoteReason:   kw["REMOTE_REASON"],
		Source:         kw["SOURCE"],
		SourceAddr:     kw["SOURCE_ADDR"],
		Purpose:        kw["PURPOSE"],
		SocksUsername:  kw["SOCKS_USERNAME"],
		SocksPassword:  kw["SOCKS_PASSWORD"],
		ClientProtocol: kw["CLIENT_PROTOCOL"],
		NymEpoch:       kw["NYM_EPOCH"],
		SessionGroup:   kw["SESSION_GROUP"],
		Keywords:       kw,
	}
	if f := kw["ISO_FIELDS"]; f != "" {
		s.IsoFields = strings.Split(f, ",")
	}
	return s, true
}

// HSDesc is an HS_DESC event: progress of an onion service descriptor
// upload (service side) or fetch (client side).
type HSDesc struct {
	Action       string // REQUESTED, UPLOAD, RECEIVED, UPLOADED, IGNORE, FAILED, CREATED
	Address      string // onion address without ".onion", or "UNKNOWN"
	AuthType     string // NO_AUTH, BASIC_AUTH, STEALTH_AUTH, UNKNOWN
	HSDir        string // LongName of the directory, or "UNKNOWN"
	DescriptorID string // may be empty
	Reason       string // on FAILED: BAD_DESC, QUERY_REJECTED, UPLOAD_REJECTED, NOT_FOUND, ...
	// Keywords holds every KEY=VALUE argument, those above included.
	Keywords map[string]string
}

// ParseHSDesc parses an HS_DESC event. ok is false for other events and
// malformed ones.
func ParseHSDesc(ev Event) (d HSDesc, ok bool) {
	pos, kw, ok := eventArgs(ev, "HS_DESC")
	if !ok || len(pos) < 4 {
		return HSDesc{}, false
	}
	d = HSDesc{
		Action:   pos[0],
		Address:  pos[1],
		AuthType: pos[2],
		HSDir:    pos[3],
		Reason:   kw["REASON"],
		Keywords: kw,
	}
	if len(pos) > 4 {
		d.DescriptorID = pos[4]
	}
	return d, true
}

// eventArgs splits an event of type want into its positional and keyword
// arguments.
func eventArgs(ev Event, want string) (pos []string, kw map[string]string, ok bool) {
	t, rest, _ := strings.Cut(ev.Raw, " ")
	if t != want {
		return nil, nil, false
	}
	a, err := parseArgs(rest)
	if err != nil {
		return nil, nil, false
	}
	return a.positional(), a.keywords(), true
}
