package isolation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

type flagInfo struct {
	isolation bool // an isolation flag: valid on TransPort and DNSPort too
	canNo     bool // tor also takes it with a "No" prefix
}

// socksFlags are the SocksPort flags of tor's manual (0.4.8/0.4.9). A
// flag outside this table is refused as unknown; one inside it that the
// installed tor does not take is refused by Validate.
var socksFlags = map[string]flagInfo{
	"IsolateClientAddr":         {isolation: true, canNo: true},
	"IsolateSOCKSAuth":          {isolation: true, canNo: true},
	"IsolateClientProtocol":     {isolation: true, canNo: true},
	"IsolateDestPort":           {isolation: true, canNo: true},
	"IsolateDestAddr":           {isolation: true, canNo: true},
	"KeepAliveIsolateSOCKSAuth": {isolation: true, canNo: true},
	"SessionGroup":              {isolation: true},
	"IPv4Traffic":               {canNo: true},
	"IPv6Traffic":               {canNo: true},
	"PreferIPv6":                {canNo: true},
	"DNSRequest":                {canNo: true},
	"OnionTraffic":              {canNo: true},
	"OnionTrafficOnly":          {},
	"CacheIPv4DNS":              {canNo: true},
	"CacheIPv6DNS":              {canNo: true},
	"CacheDNS":                  {canNo: true},
	"UseIPv4Cache":              {canNo: true},
	"UseIPv6Cache":              {canNo: true},
	"UseDNSCache":               {canNo: true},
	"PreferIPv6Automap":         {canNo: true},
	"PreferSOCKSNoAuth":         {canNo: true},
	"ExtendedErrors":            {canNo: true},
	"GroupWritable":             {canNo: true},
	"WorldWritable":             {canNo: true},
	"RelaxDirModeCheck":         {canNo: true},
}

// KnownFlags lists every flag name the policy accepts, "No" forms
// included, sorted.
func KnownFlags() []string {
	var out []string
	for f, info := range socksFlags {
		out = append(out, f)
		if info.canNo {
			out = append(out, "No"+f)
		}
	}
	slices.Sort(out)
	return out
}

func lookupFlag(name string) (flagInfo, bool) {
	if info, ok := socksFlags[name]; ok {
		return info, true
	}
	if base, ok := strings.CutPrefix(name, "No"); ok {
		if info, ok := socksFlags[base]; ok && info.canNo {
			return info, true
		}
	}
	return flagInfo{}, false
}

// suggestFlag returns the known flag spelled like name but for case.
func suggestFlag(name string) string {
	for _, f := range KnownFlags() {
		if strings.EqualFold(f, name) {
			return f
		}
	}
	return ""
}

// Isolation is what a listener isolates streams by, after tor's defaults
// (IsolateClientAddr and IsolateSOCKSAuth are on unless turned off) and
// its flags, applied left to right.
type Isolation struct {
	DestAddr       bool `json:"dest_addr" yaml:"dest_addr"`
	DestPort       bool `json:"dest_port" yaml:"dest_port"`
	SOCKSAuth      bool `json:"socks_auth" yaml:"socks_auth"`
	ClientAddr     bool `json:"client_addr" yaml:"client_addr"`
	ClientProtocol bool `json:"client_protocol" yaml:"client_protocol"`
	// SessionGroup is set when the listener shares an explicit session
	// group with others; otherwise tor gives each listener its own.
	SessionGroup string `json:"session_group,omitempty" yaml:"session_group,omitempty"`
}

// Effective returns the isolation of a listener with these flags.
func Effective(flags []string) Isolation {
	iso := Isolation{SOCKSAuth: true, ClientAddr: true}
	for _, f := range flags {
		name, val, _ := strings.Cut(f, "=")
		on := true
		if base, ok := strings.CutPrefix(name, "No"); ok {
			if _, known := socksFlags[base]; known {
				name, on = base, false
			}
		}
		switch name {
		case "IsolateDestAddr":
			iso.DestAddr = on
		case "IsolateDestPort":
			iso.DestPort = on
		case "IsolateSOCKSAuth":
			iso.SOCKSAuth = on
		case "IsolateClientAddr":
			iso.ClientAddr = on
		case "IsolateClientProtocol":
			iso.ClientProtocol = on
		case "SessionGroup":
			iso.SessionGroup = val
		}
	}
	return iso
}

// Names lists the isolation in force as tor's flag names.
func (i Isolation) Names() []string {
	var out []string
	add := func(on bool, n string) {
		if on {
			out = append(out, n)
		}
	}
	add(i.DestAddr, "IsolateDestAddr")
	add(i.DestPort, "IsolateDestPort")
	add(i.SOCKSAuth, "IsolateSOCKSAuth")
	add(i.ClientAddr, "IsolateClientAddr")
	add(i.ClientProtocol, "IsolateClientProtocol")
	if i.SessionGroup != "" {
		out = append(out, "SessionGroup="+i.SessionGroup)
	}
	return out
}

var (
	supMu    sync.Mutex
	supCache = map[string]map[string]bool{}
)

// SupportedFlags returns which of KnownFlags the tor binary takes on a
// SocksPort line. It runs `tor --verify-config` on a tiny torrc per flag
// (DisableNetwork 1, a throw-away DataDirectory): tor only warns about an
// unknown SocksPort flag ("Unrecognized SocksPort option") and still calls
// the configuration valid, so the warning is what counts. Results are
// cached in memory and in the user's cache directory, keyed by the
// binary's path, size and modification time.
func SupportedFlags(ctx context.Context, torBinary string) (map[string]bool, error) {
	if torBinary == "" {
		torBinary = "tor"
	}
	path, err := exec.LookPath(torBinary)
	if err != nil {
		return nil, fmt.Errorf("tor not found (%s): install Debian's tor package or give --tor PATH", torBinary)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s|%d|%d", path, fi.Size(), fi.ModTime().UnixNano())
	supMu.Lock()
	defer supMu.Unlock()
	if m, ok := supCache[key]; ok {
		return m, nil
	}
	cacheFile := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cacheFile = filepath.Join(dir, "tails-server", "tor-socks-flags.json")
		if m := readFlagCache(cacheFile, key); m != nil {
			supCache[key] = m
			return m, nil
		}
	}
	tmp, err := os.MkdirTemp("", "tails-server-flags-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	flags := KnownFlags()
	out := make(map[string]bool, len(flags))
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, f := range flags {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, err := probeFlag(ctx, path, filepath.Join(tmp, fmt.Sprint(i)), f)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[f] = ok
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	supCache[key] = out
	if cacheFile != "" {
		writeFlagCache(cacheFile, key, out)
	}
	return out, nil
}

// probeFlag runs tor --verify-config with one SocksPort carrying flag.
func probeFlag(ctx context.Context, tor, dir, flag string) (bool, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return false, err
	}
	line := "SocksPort 127.0.0.1:auto " + flag
	if flag == "SessionGroup" {
		line += "=1"
	}
	torrc := strings.Join([]string{
		"DisableNetwork 1",
		"DataDirectory " + filepath.Join(dir, "data"),
		line,
	}, "\n") + "\n"
	f := filepath.Join(dir, "torrc")
	if err := os.WriteFile(f, []byte(torrc), 0o600); err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, tor, "--verify-config", "-f", f, "--defaults-torrc", os.DevNull, "--hush").CombinedOutput()
	if bytes.Contains(out, []byte("Unrecognized SocksPort option")) {
		return false, nil
	}
	if err != nil {
		if cctx.Err() != nil {
			return false, fmt.Errorf("tor --verify-config: %w", cctx.Err())
		}
		// A flag tor knows but refuses alone (e.g. a port with nothing
		// left to reach) is still a flag tor knows.
		if bytes.Contains(out, []byte("Invalid SocksPort configuration")) || bytes.Contains(out, []byte("all of IPv4 and IPv6")) {
			return true, nil
		}
		return false, fmt.Errorf("tor --verify-config on a one-line torrc failed: %s", firstLineOf(string(out)))
	}
	return true, nil
}

func firstLineOf(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "[notice]") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

type flagCache struct {
	Key   string          `json:"key"`
	Flags map[string]bool `json:"flags"`
}

func readFlagCache(path, key string) map[string]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var c flagCache
	if json.Unmarshal(b, &c) != nil || c.Key != key || len(c.Flags) != len(KnownFlags()) {
		return nil
	}
	return c.Flags
}

// writeFlagCache is best effort: a cache that cannot be written only
// costs the next run the probes.
func writeFlagCache(path, key string, flags map[string]bool) {
	b, err := json.Marshal(flagCache{Key: key, Flags: flags})
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tor-socks-flags-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if werr != nil || serr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}
