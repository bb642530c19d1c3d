package metrics

import (
	"bytes"
	"strings"
	"testing"
)

const webOnion = "2tf4nazuuduxpn4iygqglzcqp2msj4nogqch27eig2zh6672ndqxvhad"
const otherOnion = "p7mmxcuaaed5vuhpisp2xfb2m2pcaoues6c5i6wrtxovbkzwkemg3eid"

// torText is shaped like tor 0.4.9's MetricsPort answer.
const torText = `# HELP tor_hs_intro_num_total Total number of introduction received
# TYPE tor_hs_intro_num_total counter
tor_hs_intro_num_total{onion="` + webOnion + `"} 4
tor_hs_intro_num_total{onion="` + otherOnion + `"} 1
# HELP tor_hs_pow_suggested_effort Suggested effort for requests with a proof-of-work client puzzle
# TYPE tor_hs_pow_suggested_effort gauge
tor_hs_pow_suggested_effort{onion="` + webOnion + `"} 12
# HELP tor_hs_intro_rejected_intro_req_count Total number of rejected introduction circuits
# TYPE tor_hs_intro_rejected_intro_req_count counter
tor_hs_intro_rejected_intro_req_count{onion="` + webOnion + `",reason="bad_auth_key"} 0
tor_hs_intro_rejected_intro_req_count{onion="` + webOnion + `",reason="replay"} 2
# HELP tor_hs_rend_circ_build_time The rendezvous circuit build time in milliseconds
# TYPE tor_hs_rend_circ_build_time histogram
tor_hs_rend_circ_build_time_bucket{onion="` + webOnion + `",le="1000.00"} 3
tor_hs_rend_circ_build_time_bucket{onion="` + webOnion + `",le="+Inf"} 4
tor_hs_rend_circ_build_time_sum{onion="` + webOnion + `"} 2100
tor_hs_rend_circ_build_time_count{onion="` + webOnion + `"} 4
# HELP tor_relay_load_onionskins_total Total number of onionskins handled
# TYPE tor_relay_load_onionskins_total counter
tor_relay_load_onionskins_total{type="ntor",action="processed"} 0
`

func TestParseTorAndRelabel(t *testing.T) {
	fams, err := ParseTor(strings.NewReader(torText))
	if err != nil {
		t.Fatal(err)
	}
	onions := map[string]string{webOnion: "web"} // the other onion is not ours
	var b bytes.Buffer
	if err := Write(&b, Relabel(fams, onions, false)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	parseText(t, out)
	for _, want := range []string{
		`tor_hs_intro_num_total{service="web"} 4`,
		`tor_hs_pow_suggested_effort{service="web"} 12`,
		`tor_hs_intro_rejected_intro_req_count{service="web",reason="replay"} 2`,
		`tor_hs_rend_circ_build_time_bucket{service="web",le="1000.00"} 3`,
		`tor_hs_rend_circ_build_time_count{service="web"} 4`,
		"# TYPE tor_hs_rend_circ_build_time histogram",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	for _, never := range []string{webOnion, otherOnion, "tor_relay_", "onion="} {
		if strings.Contains(out, never) {
			t.Errorf("relabelled text holds %q:\n%s", never, out)
		}
	}
	b.Reset()
	Write(&b, Relabel(fams, onions, true))
	if !strings.Contains(b.String(), `tor_hs_intro_num_total{service="web",onion="`+webOnion+`"} 4`) || strings.Contains(b.String(), otherOnion) {
		t.Errorf("with addresses:\n%s", b.String())
	}
}

// A tor label named service must not pass for ours.
func TestRelabelDropsTorsServiceLabel(t *testing.T) {
	fams, err := ParseTor(strings.NewReader(`tor_hs_x{service="evil",onion="` + webOnion + `"} 1` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Write(&b, Relabel(fams, map[string]string{webOnion: "web"}, false))
	if got := b.String(); !strings.Contains(got, `tor_hs_x{service="web"} 1`) || strings.Contains(got, "evil") {
		t.Errorf("got\n%s", got)
	}
}

func TestParseTorRefusesHostileInput(t *testing.T) {
	long := strings.Repeat("a", maxLabelValue+1)
	cases := map[string]string{
		"no value":          "tor_hs_x\n",
		"bad name":          "tor-hs{onion=\"a\"} 1\n",
		"value not number":  "tor_hs_x 1e\n",
		"unquoted":          "tor_hs_x{onion=a} 1\n",
		"unterminated":      "tor_hs_x{onion=\"a} 1\n",
		"bad escape":        "tor_hs_x{onion=\"\\x\"} 1\n",
		"label twice":       "tor_hs_x{a=\"1\",a=\"2\"} 1\n",
		"bad label name":    "tor_hs_x{1a=\"1\"} 1\n",
		"junk after labels": "tor_hs_x{a=\"1\"}x 1\n",
		"no separator":      "tor_hs_x{a=\"1\" b=\"2\"} 1\n",
		"three fields":      "tor_hs_x 1 2 3\n",
		"bad timestamp":     "tor_hs_x 1 now\n",
		"CR":                "tor_hs_x 1\r\n",
		"NUL":               "tor_hs_x{a=\"\x00\"} 1\n",
		"long value":        "tor_hs_x{a=\"" + long + "\"} 1\n",
		"long line":         "tor_hs_x{a=\"" + strings.Repeat("b", maxLine) + "\"} 1\n",
		"many labels":       "tor_hs_x{" + manyLabels(maxLabels+1) + "} 1\n",
		"bad type":          "# TYPE tor_hs_x frob\n",
		"type bad name":     "# TYPE 9x counter\n",
		"type no type":      "# TYPE tor_hs_x\n",
	}
	for name, in := range cases {
		_, err := ParseTor(strings.NewReader(in))
		if err == nil {
			t.Errorf("%s: accepted %q", name, in)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || (len(in) > 20 && strings.Contains(msg, in[5:20])) {
			t.Errorf("%s: error quotes the input or spans lines: %q", name, msg)
		}
	}
	if _, err := ParseTor(strings.NewReader(strings.Repeat("tor_hs_x 1\n", MaxTorSamples+1))); err == nil {
		t.Error("accepted more than MaxTorSamples samples")
	}
	if _, err := ParseTor(strings.NewReader(strings.Repeat("#", MaxTorBytes+1))); err == nil {
		t.Error("accepted more than MaxTorBytes")
	}
	if _, err := ParseTor(strings.NewReader("# a comment\n\ntor_hs_x{a=\"q\\\"\\n\\\\\"} 1 1700000000\n")); err != nil {
		t.Errorf("valid input refused: %v", err)
	}
}

func manyLabels(n int) string {
	var l []string
	for i := range n {
		l = append(l, "l"+strings.Repeat("x", i)+`="1"`)
	}
	return strings.Join(l, ",")
}

// FuzzParseTor: whatever tor sends, what the daemon writes of it parses.
func FuzzParseTor(f *testing.F) {
	f.Add(torText)
	f.Add("tor_hs_x{onion=\"" + webOnion + "\",a=\"\\\"\"} NaN\n")
	f.Fuzz(func(t *testing.T, in string) {
		fams, err := ParseTor(strings.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := Write(&b, Relabel(fams, map[string]string{webOnion: "web"}, true)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	})
}
