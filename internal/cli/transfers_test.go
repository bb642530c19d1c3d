package cli

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/apitype"
)

// TestStatusShowsTransfers: status shows the newest transfers, with
// their bytes and whether they completed, at most statusTransfers.
func TestStatusShowsTransfers(t *testing.T) {
	start := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	var ts []apitype.Transfer
	for i := 12; i > 0; i-- { // newest first
		end, size := start.Add(time.Duration(i)*time.Minute), int64(1000+i)
		ts = append(ts, apitype.Transfer{Kind: apitype.TransferDownload, Name: "report.pdf", Start: end.Add(-time.Second), End: &end,
			Bytes: size, Size: &size, Complete: i%2 == 0})
	}
	v := toStatusAt(apitype.Service{Name: "fileshare", State: apitype.StateReachable, Transfers: ts}, start)
	if len(v.Transfers) != statusTransfers || v.Transfers[0].Bytes != 1012 {
		t.Fatalf("status shows %d transfers, the first %+v", len(v.Transfers), v.Transfers[0])
	}
	b, _ := yaml.Marshal(v)
	for _, w := range []string{"transfers:\n", "kind: download", "name: report.pdf", "bytes: 1012", "complete: true", "end: 2026-12-02T08:12:00Z"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("status lacks %q:\n%s", w, b)
		}
	}
	if strings.Contains(string(b), "bytes: 1002\n") {
		t.Errorf("status shows more than %d transfers:\n%s", statusTransfers, b)
	}
}
