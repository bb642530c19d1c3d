package fileshare

import "testing"

// Totals count every finished transfer, past the kept history, and carry
// over to the history that continues it.
func TestTransferTotals(t *testing.T) {
	h := NewHistory(2)
	for range 3 {
		h.begin(KindDownload, "a", 1).finish(true)
	}
	h.begin(KindUpload, "", -1).finish(false)
	dropped := h.begin(KindDownload, "b", 1)
	dropped.drop()
	want := map[TotalKey]int64{{KindDownload, true}: 3, {KindUpload, false}: 1}
	if got := h.Totals(); len(got) != len(want) || got[TotalKey{KindDownload, true}] != 3 || got[TotalKey{KindUpload, false}] != 1 {
		t.Fatalf("Totals = %v, want %v", got, want)
	}
	next := NewHistory(2).Continue(h)
	next.begin(KindDownload, "a", 1).finish(true)
	if got := next.Totals()[TotalKey{KindDownload, true}]; got != 4 {
		t.Fatalf("continued downloads = %d, want 4", got)
	}
	var none *History
	if len(none.Totals()) != 0 {
		t.Fatal("a nil history has totals")
	}
}
