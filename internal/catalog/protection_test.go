package catalog

import (
	"strings"
	"testing"

	catalogfs "tails-server/services"
)

func TestProtectionOptionRanges(t *testing.T) {
	s := &Service{Name: "x"}
	byName := map[string]Option{}
	for _, o := range s.Common() {
		byName[o.Name] = o
	}
	for _, tc := range []struct {
		option, value, want, err string
	}{
		{OptPoW, "off", "false", ""},
		{OptPoW, "maybe", "", "is not a boolean"},
		{OptPoWQueueRate, "0", "0", ""},
		{OptPoWQueueRate, "-1", "", "below the minimum 0"},
		{OptPoWQueueRate, "100001", "", "above the maximum 100000"},
		{OptPoWQueueBurst, "0", "", "below the minimum 1"},
		{OptPoWQueueBurst, "1000000", "1000000", ""},
		{OptPoWQueueBurst, "2500\nPort=1", "", "not a decimal integer"},
		{OptMaxStreams, "0", "0", ""},
		{OptMaxStreams, "65536", "", "above the maximum 65535"},
		{OptMaxStreams, "2", "2", ""},
	} {
		o := byName[tc.option]
		got, err := o.Validate(tc.value)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("%s %q = %q, %v; want %q", tc.option, tc.value, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.option)) {
			t.Errorf("%s %q: error %v, want one naming the option and %q", tc.option, tc.value, err, tc.err)
		}
	}
}

func TestServiceMaxStreamsDefault(t *testing.T) {
	def := func(s *Service) any {
		for _, o := range s.Common() {
			if o.Name == OptMaxStreams {
				return o.Default
			}
		}
		return nil
	}
	if d := def(&Service{}); d != DefaultMaxStreams {
		t.Errorf("no max_streams: default %v, want %d", d, DefaultMaxStreams)
	}
	if d := def(&Service{MaxStreams: 4}); d != 4 {
		t.Errorf("max_streams 4: default %v", d)
	}
	if o, _ := commonOption(OptMaxStreams); o.Default != DefaultMaxStreams {
		t.Error("Common changed CommonOptions")
	}
}

func TestBuiltinMaxStreams(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	web, _ := cat.Get("web")
	mumble, _ := cat.Get("mumble")
	if web == nil || mumble == nil {
		t.Fatal("web or mumble missing")
	}
	if web.MaxStreams <= mumble.MaxStreams || mumble.MaxStreams == 0 {
		t.Errorf("max_streams: web %d, mumble %d; a web page needs more streams than a Mumble client", web.MaxStreams, mumble.MaxStreams)
	}
}

func commonOption(name string) (Option, bool) {
	for _, o := range CommonOptions() {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}
