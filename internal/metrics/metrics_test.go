package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseText(t *testing.T, text string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Fatalf("Prometheus's parser refuses the output: %v\n%s", err, text)
	}
}

func TestWriteEscapesAndMerges(t *testing.T) {
	fams := []Family{
		{Name: "b_total", Type: Counter, Help: "two\nlines \\ here", Samples: []Sample{{Labels: []Label{{"service", "we\"b\n\\x"}}, Value: 3}}},
		{Name: "a", Type: Gauge, Samples: []Sample{{Value: 0.25}}},
		{Name: "b_total", Type: Counter, Samples: []Sample{{Labels: []Label{{"service", "other"}}, Value: 1}}},
	}
	var b bytes.Buffer
	if err := Write(&b, fams); err != nil {
		t.Fatal(err)
	}
	want := "# TYPE a gauge\na 0.25\n" +
		"# HELP b_total two\\nlines \\\\ here\n# TYPE b_total counter\n" +
		"b_total{service=\"we\\\"b\\n\\\\x\"} 3\nb_total{service=\"other\"} 1\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	parseText(t, b.String())
}

func TestWriteRefusesBadNames(t *testing.T) {
	for _, f := range []Family{
		{Name: "bad name", Samples: []Sample{{Value: 1}}},
		{Name: "1x"},
		{Name: "x", Samples: []Sample{{Labels: []Label{{"a:b", "v"}}}}},
		{Name: "x", Samples: []Sample{{Labels: []Label{{"", "v"}}}}},
		{Name: "x", Samples: []Sample{{Suffix: "{", Value: 1}}},
	} {
		var b bytes.Buffer
		if err := Write(&b, []Family{f}); err == nil || b.Len() != 0 {
			t.Errorf("%+v: err %v, wrote %q", f, err, b.String())
		}
	}
}

func TestDaemonHistogram(t *testing.T) {
	var nilD *Daemon
	nilD.Check("x", true, time.Second) // no panic
	d := NewDaemon()
	d.Check("web", true, 300*time.Millisecond)
	d.Check("web", true, 1500*time.Millisecond)
	d.Check("web", false, 90*time.Second)
	d.Check("irc", true, 2*time.Second)
	d.Publication("web", true)
	d.Publication("web", false)
	d.DescriptorUpload("web", true)
	var b bytes.Buffer
	if err := Write(&b, d.Families()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	parseText(t, out)
	for _, want := range []string{
		`tails_server_selfcheck_duration_seconds_bucket{service="web",le="0.5"} 1`,
		`tails_server_selfcheck_duration_seconds_bucket{service="web",le="2"} 2`,
		`tails_server_selfcheck_duration_seconds_bucket{service="web",le="60"} 2`,
		`tails_server_selfcheck_duration_seconds_bucket{service="web",le="+Inf"} 3`,
		`tails_server_selfcheck_duration_seconds_count{service="web"} 3`,
		`tails_server_selfcheck_duration_seconds_bucket{service="irc",le="2"} 1`,
		`tails_server_selfcheck_failures_total{service="web"} 1`,
		`tails_server_selfcheck_failures_total{service="irc"} 0`,
		`tails_server_publications_total{service="web",result="failed"} 1`,
		`tails_server_publications_total{service="web",result="ok"} 1`,
		`tails_server_descriptor_uploads_total{service="web",result="ok"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9100", false, true},
		{"127.0.0.2:0", false, true},
		{"[::1]:9100", false, true},
		{"localhost:9100", false, true},
		{"0.0.0.0:9100", false, false},
		{":9100", false, false},
		{"[::]:9100", false, false},
		{"192.0.2.1:9100", false, false},
		{"example.org:9100", false, false},
		{"0.0.0.0:9100", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1:99999", true, false},
		{"127.0.0.1:x", false, false},
	} {
		err := CheckListen(c.addr, c.remote)
		if (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, %v) = %v", c.addr, c.remote, err)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--metrics-listen")) {
			t.Errorf("error not one line naming the flag: %v", err)
		}
	}
}

// Before anything is counted the families are there, empty, and parse.
func TestDaemonEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, NewDaemon().Families()); err != nil {
		t.Fatal(err)
	}
	parseText(t, b.String())
	if !strings.Contains(b.String(), "# TYPE tails_server_selfcheck_duration_seconds histogram\n") {
		t.Fatalf("got\n%s", b.String())
	}
}
