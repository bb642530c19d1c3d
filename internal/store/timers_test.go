package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRecordDeadlines: the timers' deadlines are absolute UTC times in
// the record; a record of a version without them loads with none, and
// the fields it did not know stay out of a record without deadlines (the
// previous version reads the new one as its own: unknown keys are
// ignored by its decoder, as by this one).
func TestRecordDeadlines(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(filepath.Join(dir, "p"), filepath.Join(dir, "v"))
	if err != nil {
		t.Fatal(err)
	}
	// The previous version's record.
	old := `{"name":"fileshare","enabled":true,"address":"abc","persistent":false,"options":{"mode":"share"}}`
	if err := os.MkdirAll(st.ServiceDir("fileshare"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.ServiceDir("fileshare"), "service.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load("fileshare")
	if err != nil || !rec.Enabled || rec.PublishedAt != nil || rec.StopAt != nil {
		t.Fatalf("old record: %+v, %v", rec, err)
	}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	b, _ := os.ReadFile(filepath.Join(st.ServiceDir("fileshare"), "service.json"))
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"published_at", "stop_at"} {
		if _, ok := keys[k]; ok {
			t.Errorf("a record without deadlines has %q", k)
		}
	}
	pub := time.Date(2026, 12, 2, 8, 0, 1, 0, time.UTC)
	stop := pub.Add(30 * time.Second)
	rec.PublishedAt, rec.StopAt = &pub, &stop
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(st.ServiceDir("fileshare"), "service.json"))
	keys = nil
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	if keys["stop_at"] != "2026-12-02T08:00:31Z" || keys["published_at"] != "2026-12-02T08:00:01Z" {
		t.Fatalf("stored deadlines: %s", b)
	}
	again, err := st.Load("fileshare")
	if err != nil || again.StopAt == nil || !again.StopAt.Equal(stop) || !again.PublishedAt.Equal(pub) {
		t.Fatalf("loaded again: %+v, %v", again, err)
	}
}
