package isolation

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/tor"
)

// Connector returns a ready, authenticated control connection to tor and
// a function to call when done with it (which closes it, or not, as its
// owner wishes).
type Connector func(ctx context.Context) (*tor.Conn, func(), error)

// Auditor follows tor's STREAM and CIRC events and finds the application
// streams that shared a circuit although the policy says they must not.
//
// To know on which listener a stream arrived, it probes every SOCKS
// listener once per control connection: a SOCKS5 request, with a
// username of its own, for an invalid onion address, which tor refuses
// locally without touching the network; the probe's STREAM event carries
// the listener's session group (SESSION_GROUP), which every later stream
// on that listener carries too.
type Auditor struct {
	Policy *Policy
	Offset int
	// Connect gives the control connection; it is called again, with
	// backoff, when the connection drops.
	Connect Connector
	// Emit, if set, receives every stream attached to a circuit, every
	// violation and every note as they happen. It must not block long.
	Emit func(apitype.IsolationAuditEvent)

	mu         sync.Mutex
	started    time.Time
	epoch      int
	torPID     string
	groups     map[string]*listener // epoch|session group -> listener
	byAddr     map[string]*listener // "type addr" -> listener
	streams    map[string]*streamRec
	order      []string
	conflux    map[string]string // epoch|circ -> conflux id
	circs      map[string][]circUse
	violations []apitype.AuditViolation
	seenPairs  map[string]bool
	notes      []string
	probeUser  string
	probeAddrs []string
	probeRound int // one round of probes per control connection
	foreign    []apitype.AuditForeign
	foreignOf  map[string]bool // stream keys already reported
}

type listener struct {
	name, addr, typ string
	apps            []string
	iso             Isolation
	inPolicy        bool
	torFields       []string
}

type streamRec struct {
	key      string
	s        apitype.AuditStream
	group    string // epoch|session group
	nym      string
	password string
	circs    []string
	// isoFields is what tor says this stream is isolated by.
	isoFields []string
}

type circUse struct {
	stream string
	at     int // order of attachment
}

// ReadyNote begins the note an audit emits (without keeping it in the
// report) once it knows the listeners: streams from then on are named
// after their port.
const ReadyNote = "following the streams of"

func (a *Auditor) pid() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.torPID
}

// probeUserPrefix begins the SOCKS username of the audit's own probes.
const probeUserPrefix = "tails-server-audit-probe-"

// Run audits until ctx ends and returns what it saw. It only returns an
// error when it never reached tor.
func (a *Auditor) Run(ctx context.Context) (*apitype.IsolationAudit, error) {
	a.mu.Lock()
	a.started = time.Now().UTC()
	a.groups = map[string]*listener{}
	a.byAddr = map[string]*listener{}
	a.streams = map[string]*streamRec{}
	a.conflux = map[string]string{}
	a.circs = map[string][]circUse{}
	a.seenPairs = map[string]bool{}
	var b [8]byte
	rand.Read(b[:])
	a.probeUser = probeUserPrefix + hex.EncodeToString(b[:])
	a.mu.Unlock()

	connected := false
	backoff := 500 * time.Millisecond
	var lost time.Time
	for ctx.Err() == nil {
		conn, release, err := a.Connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !connected {
				return nil, err
			}
			a.note(fmt.Sprintf("reconnecting to tor's control port failed (%s); retrying in %s", oneLine(err), backoff))
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		if connected {
			a.note(fmt.Sprintf("reconnected to tor's control port after %.1f s; streams opened while disconnected are not in this audit", time.Since(lost).Seconds()))
		}
		connected = true
		backoff = 500 * time.Millisecond
		err = a.session(ctx, conn)
		release()
		if ctx.Err() != nil {
			break
		}
		var fe *tor.FilteredError
		if errors.As(err, &fe) {
			// Retrying gets the same answer, at once, for ever.
			return nil, fmt.Errorf("the control port filter refused %s: it does not let the audit watch tor's streams and circuits "+
				"(on Tails, onion-grater's profile for tails-server leaves them out on purpose; audit a tor you control with --control)", fe.Command)
		}
		lost = time.Now()
		a.note(fmt.Sprintf("control connection to tor lost (%s); reconnecting", oneLine(err)))
	}
	return a.Report(), nil
}

func oneLine(err error) string {
	if err == nil {
		return "closed"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (a *Auditor) note(s string) {
	a.mu.Lock()
	a.notes = append(a.notes, s)
	a.mu.Unlock()
	if a.Emit != nil {
		a.Emit(apitype.IsolationAuditEvent{Time: time.Now().UTC(), Note: s})
	}
}

// session audits over one control connection until it drops or ctx ends.
func (a *Auditor) session(ctx context.Context, c *tor.Conn) error {
	events, cancel, err := c.Subscribe("STREAM", "CIRC")
	if err != nil {
		return err
	}
	defer cancel()
	qctx, qcancel := context.WithTimeout(ctx, 15*time.Second)
	info, err := c.GetInfo(qctx, "process/pid", "net/listeners/socks", "net/listeners/trans", "net/listeners/dns")
	qcancel()
	if err != nil {
		return err
	}
	a.mu.Lock()
	if pid := strings.TrimSpace(info["process/pid"]); pid != a.torPID {
		if a.torPID != "" {
			a.epoch++
		}
		a.torPID = pid
	}
	epoch := a.epoch
	a.mu.Unlock()
	socks := a.mapListeners(info)
	a.mu.Lock()
	a.probeRound++
	prefix := fmt.Sprintf("%s-%d-", a.probeUser, a.probeRound)
	a.mu.Unlock()

	// Probe every SOCKS listener, reading the events as they come.
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		var wg sync.WaitGroup
		for i, addr := range socks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				probe(ctx, addr, prefix+strconv.Itoa(i))
			}()
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-probed:
			probed = nil
			if a.Emit != nil {
				a.Emit(apitype.IsolationAuditEvent{Time: time.Now().UTC(), Note: fmt.Sprintf("%s %d SOCKS listeners of tor (pid %s)", ReadyNote, len(socks), a.pid())})
			}
		case ev, ok := <-events:
			if !ok {
				if err := c.Err(); err != nil {
					return err
				}
				return errors.New("control connection closed")
			}
			a.handle(epoch, ev)
		}
	}
}

// mapListeners records the running tor's listeners, named after the
// policy's where the address matches, and returns the SOCKS addresses.
func (a *Auditor) mapListeners(info map[string]string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	policyAddr := map[string]Port{}
	if a.Policy != nil {
		for _, l := range a.Policy.Listeners() {
			if addr, err := l.Addr(a.Offset); err == nil {
				policyAddr[l.Type+" "+addr] = l
			}
		}
	}
	var socks []string
	seen := map[string]bool{}
	for typ, key := range map[string]string{TypeSOCKS: "net/listeners/socks", TypeTrans: "net/listeners/trans", TypeDNS: "net/listeners/dns"} {
		for _, addr := range ListenerAddrs(info[key]) {
			l := &listener{name: addr, addr: addr, typ: typ}
			if pl, ok := policyAddr[typ+" "+addr]; ok {
				l.name, l.iso, l.inPolicy = pl.Name, Effective(pl.Flags), true
				for _, ap := range a.Policy.Apps {
					if (pl.App != "" && ap.Name == pl.App) || (pl.App == "" && ap.Port == pl.Name && ap.Override == nil) {
						l.apps = append(l.apps, ap.Name)
					}
				}
			}
			a.byAddr[typ+" "+addr] = l
			seen[typ+" "+addr] = true
			if typ == TypeSOCKS {
				socks = append(socks, addr)
			}
		}
	}
	for k, pl := range policyAddr {
		if !seen[k] {
			a.notes = append(a.notes, fmt.Sprintf("the running tor does not expose port %s (%s)", pl.Name, strings.SplitN(k, " ", 2)[1]))
		}
	}
	slices.Sort(socks)
	a.probeAddrs = socks
	return socks
}

// probe sends one SOCKS5 CONNECT, with username user, for an invalid
// onion address: tor answers with an error at once, after announcing the
// stream (with its listener's session group) in a STREAM event.
func probe(ctx context.Context, addr, user string) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	host := "tails-server-audit-probe.onion"
	req := []byte{5, 1, 2}
	req = append(req, 1, byte(len(user)))
	req = append(req, user...)
	req = append(req, 1, 'x')
	if _, err := c.Write(req[:3]); err != nil {
		return
	}
	var rep [2]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 2 {
		return
	}
	if _, err := c.Write(req[3:]); err != nil {
		return
	}
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return
	}
	conn := []byte{5, 1, 0, 3, byte(len(host))}
	conn = append(conn, host...)
	conn = binary.BigEndian.AppendUint16(conn, 1)
	if _, err := c.Write(conn); err != nil {
		return
	}
	var reply [10]byte
	io.ReadFull(c, reply[:])
}

func (a *Auditor) handle(epoch int, ev tor.Event) {
	switch ev.Type {
	case "CIRC":
		circ, ok := tor.ParseCirc(ev)
		if !ok {
			return
		}
		if circ.ConfluxID != "" {
			a.mu.Lock()
			a.conflux[key(epoch, circ.ID)] = circ.ConfluxID
			a.mu.Unlock()
		}
	case "STREAM":
		s, ok := tor.ParseStream(ev)
		if !ok {
			return
		}
		a.stream(epoch, s)
	}
}

func key(epoch int, id string) string { return strconv.Itoa(epoch) + "|" + id }

// circName is how a circuit shows in the report: its id, with an epoch
// prefix after a tor restart, or its conflux set.
func (a *Auditor) circName(epoch int, id string) string {
	if cf, ok := a.conflux[key(epoch, id)]; ok {
		return "conflux:" + cf
	}
	if epoch == 0 {
		return id
	}
	return strconv.Itoa(epoch) + "." + id
}

func (a *Auditor) stream(epoch int, s tor.Stream) {
	if s.Purpose != "" && s.Purpose != "USER" {
		return // tor's own streams (directory fetches)
	}
	switch s.ClientProtocol {
	case "", "UNKNOWN":
		return
	}
	a.mu.Lock()
	if strings.HasPrefix(s.SocksUsername, probeUserPrefix) {
		if strings.HasPrefix(s.SocksUsername, a.probeUser+"-") && s.Status == "NEW" {
			a.learnGroup(epoch, s)
		}
		a.mu.Unlock()
		return
	}
	k := key(epoch, s.ID)
	rec := a.streams[k]
	if rec == nil {
		rec = &streamRec{key: k, group: key(epoch, s.SessionGroup), nym: s.NymEpoch, password: s.SocksPassword}
		rec.s = apitype.AuditStream{
			ID: s.ID, Target: s.Target, Username: s.SocksUsername, Source: s.SourceAddr,
			Protocol: s.ClientProtocol, Circuits: []string{}, Time: time.Now().UTC(),
		}
		if epoch > 0 {
			rec.s.ID = strconv.Itoa(epoch) + "." + s.ID
		}
		rec.isoFields = isoFieldNames(s.IsoFields)
		a.streams[k] = rec
		a.order = append(a.order, k)
	}
	rec.s.Status = s.Status
	var emit []apitype.IsolationAuditEvent
	if s.CircID != "" && s.CircID != "0" {
		cn := a.circName(epoch, s.CircID)
		if !slices.Contains(rec.circs, cn) {
			rec.circs = append(rec.circs, cn)
			rec.s.Circuits = append(rec.s.Circuits, cn)
			rec.s.Port = a.portName(rec)
			if f := a.checkForeign(rec); f != nil {
				emit = append(emit, apitype.IsolationAuditEvent{Time: time.Now().UTC(), Foreign: f})
			}
			st := rec.s
			st.Circuits = slices.Clone(st.Circuits)
			emit = append(emit, apitype.IsolationAuditEvent{Time: time.Now().UTC(), Stream: &st})
			for _, v := range a.attach(cn, rec) {
				emit = append(emit, apitype.IsolationAuditEvent{Time: time.Now().UTC(), Violation: &v})
			}
		}
	}
	a.mu.Unlock()
	if a.Emit != nil {
		for _, e := range emit {
			a.Emit(e)
		}
	}
}

// learnGroup maps a probe's session group to the listener it was sent
// to: the probe's username ends with the listener's index. Called with
// a.mu held.
func (a *Auditor) learnGroup(epoch int, s tor.Stream) {
	i, err := strconv.Atoi(strings.TrimPrefix(s.SocksUsername, fmt.Sprintf("%s-%d-", a.probeUser, a.probeRound)))
	if err != nil || i < 0 || i >= len(a.probeAddrs) {
		return
	}
	l := a.byAddr[TypeSOCKS+" "+a.probeAddrs[i]]
	if l == nil {
		return
	}
	l.torFields = isoFieldNames(s.IsoFields)
	a.groups[key(epoch, s.SessionGroup)] = l
}

// isoFieldNames turns tor's ISO_FIELDS into flag names.
func isoFieldNames(fields []string) []string {
	var out []string
	for _, f := range fields {
		switch f {
		case "DESTADDR":
			out = append(out, "IsolateDestAddr")
		case "DESTPORT":
			out = append(out, "IsolateDestPort")
		case "SOCKS_USERNAME":
			out = append(out, "IsolateSOCKSAuth")
		case "CLIENTADDR":
			out = append(out, "IsolateClientAddr")
		case "CLIENT_PROTOCOL", "CLIENTPROTOCOL":
			out = append(out, "IsolateClientProtocol")
		}
	}
	// The order of Isolation.Names.
	order := []string{"IsolateDestAddr", "IsolateDestPort", "IsolateSOCKSAuth", "IsolateClientAddr", "IsolateClientProtocol"}
	slices.SortFunc(out, func(x, y string) int { return slices.Index(order, x) - slices.Index(order, y) })
	return out
}

// isolationOf returns the isolation flags from a list of flag names.
func isolationOf(names []string) Isolation {
	return Isolation{
		DestAddr:       slices.Contains(names, "IsolateDestAddr"),
		DestPort:       slices.Contains(names, "IsolateDestPort"),
		SOCKSAuth:      slices.Contains(names, "IsolateSOCKSAuth"),
		ClientAddr:     slices.Contains(names, "IsolateClientAddr"),
		ClientProtocol: slices.Contains(names, "IsolateClientProtocol"),
	}
}

// listenerOf returns the listener a stream arrived on, or nil. Called
// with a.mu held.
func (a *Auditor) listenerOf(rec *streamRec) *listener {
	if l := a.groups[rec.group]; l != nil {
		return l
	}
	typ := ""
	switch rec.s.Protocol {
	case "TRANS":
		typ = TypeTrans
	case "DNS":
		typ = TypeDNS
	default:
		return nil
	}
	if l := a.confinedListenerOf(rec, typ); l != nil {
		return l
	}
	var found *listener
	for _, l := range a.byAddr {
		if l.typ == typ {
			if found != nil {
				return nil
			}
			found = l
		}
	}
	return found
}

func (a *Auditor) portName(rec *streamRec) string {
	if l := a.listenerOf(rec); l != nil {
		return l.name
	}
	_, g, _ := strings.Cut(rec.group, "|")
	return "unknown (session group " + g + ")"
}

// isolation is what the policy (or, for a listener it does not know,
// tor) says a stream must be isolated by.
func (a *Auditor) isolation(rec *streamRec) (Isolation, *listener) {
	l := a.listenerOf(rec)
	if l != nil && l.inPolicy {
		return l.iso, l
	}
	return isolationOf(rec.isoFields), l
}

// attach records that rec was attached to circuit cn and returns the
// violations this makes. Called with a.mu held.
func (a *Auditor) attach(cn string, rec *streamRec) []apitype.AuditViolation {
	var out []apitype.AuditViolation
	for _, u := range a.circs[cn] {
		if u.stream == rec.key {
			continue
		}
		earlier := a.streams[u.stream]
		reason := a.conflict(earlier, rec)
		if reason == "" {
			continue
		}
		pk := cn + "|" + earlier.key + "|" + rec.key
		if a.seenPairs[pk] {
			continue
		}
		a.seenPairs[pk] = true
		v := apitype.AuditViolation{Circuit: cn, First: earlier.s.ID, Second: rec.s.ID, Reason: reason}
		a.violations = append(a.violations, v)
		out = append(out, v)
	}
	a.circs[cn] = append(a.circs[cn], circUse{stream: rec.key, at: len(a.circs[cn])})
	return out
}

// conflict says why the later stream must not share a circuit with the
// earlier one, or "". Tor checks a stream joining a circuit against the
// streams already on it, with the joining stream's isolation flags; the
// session group (one per listener unless SessionGroup says otherwise)
// and the NEWNYM epoch always count.
func (a *Auditor) conflict(earlier, later *streamRec) string {
	iso, l2 := a.isolation(later)
	l1 := a.listenerOf(earlier)
	p1, p2 := a.portName(earlier), a.portName(later)
	if earlier.group != later.group {
		shared := l1 != nil && l2 != nil && l1.inPolicy && l2.inPolicy && l1.iso.SessionGroup != "" && l1.iso.SessionGroup == l2.iso.SessionGroup
		if !shared {
			return fmt.Sprintf("streams from different ports (%s and %s) must never share a circuit", p1, p2)
		}
	}
	if earlier.nym != later.nym {
		return "streams from before and after a NEWNYM must not share a circuit"
	}
	h1, port1, _ := net.SplitHostPort(earlier.s.Target)
	h2, port2, _ := net.SplitHostPort(later.s.Target)
	switch {
	case iso.DestAddr && !strings.EqualFold(h1, h2):
		return fmt.Sprintf("port %s isolates by destination address, and %s and %s differ", p2, h1, h2)
	case iso.DestPort && port1 != port2:
		return fmt.Sprintf("port %s isolates by destination port, and %s and %s differ", p2, port1, port2)
	case iso.SOCKSAuth && (earlier.s.Username != later.s.Username || earlier.password != later.password):
		return fmt.Sprintf("port %s isolates by SOCKS username and password, and %s differ", p2, userPair(earlier.s.Username, later.s.Username))
	case iso.ClientAddr && hostOf(earlier.s.Source) != hostOf(later.s.Source):
		return fmt.Sprintf("port %s isolates by client address, and %s and %s differ", p2, hostOf(earlier.s.Source), hostOf(later.s.Source))
	case iso.ClientProtocol && earlier.s.Protocol != later.s.Protocol:
		return fmt.Sprintf("port %s isolates by client protocol, and %s and %s differ", p2, earlier.s.Protocol, later.s.Protocol)
	}
	return ""
}

func userPair(a, b string) string {
	q := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return strconv.Quote(s)
	}
	if a == b {
		return "their passwords"
	}
	return q(a) + " and " + q(b)
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// Report returns what the audit saw so far.
func (a *Auditor) Report() *apitype.IsolationAudit {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := &apitype.IsolationAudit{
		Started: a.started, Ended: time.Now().UTC(),
		Ports: []apitype.AuditPort{}, Circuits: []apitype.AuditCircuit{}, Streams: []apitype.AuditStream{},
		Violations: slices.Clone(a.violations), Notes: slices.Clone(a.notes),
		Confined: a.confinedReport(), Foreign: slices.Clone(a.foreign),
	}
	if r.Violations == nil {
		r.Violations = []apitype.AuditViolation{}
	}
	ports := map[string]*apitype.AuditPort{}
	users := map[string]map[string]*apitype.AuditUser{}
	var portOrder []string
	portOf := func(name string) *apitype.AuditPort {
		if p := ports[name]; p != nil {
			return p
		}
		p := &apitype.AuditPort{Port: name, Circuits: []string{}}
		for _, l := range a.byAddr {
			if l.name == name {
				p.Addr, p.Apps = l.addr, l.apps
				if l.inPolicy {
					p.Isolation = l.iso.Names()
				}
				p.TorIsolation = l.torFields
			}
		}
		if p.Isolation == nil {
			p.Isolation = []string{}
		}
		ports[name] = p
		users[name] = map[string]*apitype.AuditUser{}
		portOrder = append(portOrder, name)
		return p
	}
	// Listeners of the policy first, in its order, even without streams.
	if a.Policy != nil {
		for _, l := range a.Policy.Listeners() {
			for _, bl := range a.byAddr {
				if bl.inPolicy && bl.name == l.Name {
					portOf(l.Name)
				}
			}
		}
	}
	circs := map[string]*apitype.AuditCircuit{}
	var circOrder []string
	for _, k := range a.order {
		rec := a.streams[k]
		st := rec.s
		st.Port = a.portName(rec)
		st.Circuits = slices.Clone(rec.circs)
		if st.Circuits == nil {
			st.Circuits = []string{}
		}
		r.Streams = append(r.Streams, st)
		p := portOf(st.Port)
		if len(p.TorIsolation) == 0 && len(rec.isoFields) > 0 {
			p.TorIsolation = rec.isoFields
		}
		p.Streams++
		u := users[st.Port][st.Username]
		if st.Username != "" && u == nil {
			u = &apitype.AuditUser{Username: st.Username, Circuits: []string{}}
			users[st.Port][st.Username] = u
		}
		if u != nil {
			u.Streams++
		}
		for _, cn := range rec.circs {
			if !slices.Contains(p.Circuits, cn) {
				p.Circuits = append(p.Circuits, cn)
			}
			if u != nil && !slices.Contains(u.Circuits, cn) {
				u.Circuits = append(u.Circuits, cn)
			}
			c := circs[cn]
			if c == nil {
				c = &apitype.AuditCircuit{ID: cn, Streams: []string{}, Ports: []string{}, Targets: []string{}}
				circs[cn] = c
				circOrder = append(circOrder, cn)
			}
			c.Streams = append(c.Streams, st.ID)
			if !slices.Contains(c.Ports, st.Port) {
				c.Ports = append(c.Ports, st.Port)
			}
			if st.Username != "" && !slices.Contains(c.Usernames, st.Username) {
				c.Usernames = append(c.Usernames, st.Username)
			}
			if !slices.Contains(c.Targets, st.Target) {
				c.Targets = append(c.Targets, st.Target)
			}
		}
	}
	for _, name := range portOrder {
		p := ports[name]
		var names []string
		for n := range users[name] {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			p.Users = append(p.Users, *users[name][n])
		}
		r.Ports = append(r.Ports, *p)
	}
	for _, cn := range circOrder {
		r.Circuits = append(r.Circuits, *circs[cn])
	}
	return r
}
