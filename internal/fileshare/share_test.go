package fileshare

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone below, whatever the system has
)

// dosTime reads an entry's legacy MS-DOS date and time as a wall clock.
func dosTime(zf *zip.File) time.Time {
	d, c := zf.ModifiedDate, zf.ModifiedTime
	return time.Date(int(d>>9)+1980, time.Month(d>>5&0xf), int(d&0x1f), int(c>>11), int(c>>5&0x3f), int(c&0x1f)*2, 0, time.UTC)
}

// zipTimes checks that every entry of an archive carries want (UTC) in
// both its extended and its legacy field, so that their difference gives
// no time zone away.
func zipTimes(t *testing.T, b []byte, want func(name string) time.Time) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		w := want(zf.Name)
		if !zf.Modified.Equal(w) {
			t.Errorf("%s: extended time %v, want %v", zf.Name, zf.Modified.UTC(), w)
		}
		if d := dosTime(zf); !d.Equal(w) {
			t.Errorf("%s: MS-DOS time %v, want %v (%v from the UTC time: the host's offset)", zf.Name, d, w, d.Sub(zf.Modified))
		}
	}
}

// TestMain runs the package's tests with the local time in New York, as
// a host outside UTC: set here, before any goroutine reads time.Local.
func TestMain(m *testing.M) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fileshare tests need the America/New_York zone:", err)
		os.Exit(1)
	}
	time.Local = loc
	os.Exit(m.Run())
}

// TestNoHostTimes: with file times off (the default), a visitor sees no
// file's time and nothing of the host's time zone: no Last-Modified, and
// every zip entry carries FixedTime in both of its time fields.
func TestNoHostTimes(t *testing.T) {
	f := newFixture(t)
	mtime := time.Date(2024, 7, 4, 15, 30, 10, 0, time.UTC)
	filepath.WalkDir(f.shared, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, mtime, mtime) })
	h := f.handler(t, ModeShare)
	offset := regexp.MustCompile(`[+-]0[45]00|EDT|EST|2024`)
	for _, target := range []string{"/", "/files/hello.txt", "/files/photos/", "/zip/", "/style.css"} {
		w := get(t, h, target)
		if w.Code != 200 {
			t.Fatalf("%s: %d", target, w.Code)
		}
		if lm := w.Header().Get("Last-Modified"); lm != "" {
			t.Errorf("%s: Last-Modified %q", target, lm)
		}
		for k, v := range w.Header() {
			if offset.MatchString(strings.Join(v, " ")) {
				t.Errorf("%s: header %s: %q", target, k, v)
			}
		}
	}
	zipTimes(t, get(t, h, "/zip/").Body.Bytes(), func(string) time.Time { return FixedTime })
}

// TestFileTimesInUTC: with file times on, the real times are served, in
// UTC, in Last-Modified and in both fields of the zip entries.
func TestFileTimesInUTC(t *testing.T) {
	f := newFixture(t)
	mtime := time.Date(2024, 7, 4, 15, 30, 10, 0, time.UTC)
	filepath.WalkDir(f.shared, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, mtime, mtime) })
	h := f.handler(t, ModeShare, func(c *Config) { c.FileTimes = true })
	if lm := get(t, h, "/files/hello.txt").Header().Get("Last-Modified"); lm != "Thu, 04 Jul 2024 15:30:10 GMT" {
		t.Errorf("Last-Modified %q", lm)
	}
	zipTimes(t, get(t, h, "/zip/photos").Body.Bytes(), func(string) time.Time { return mtime })
}

// TestZipOnlyWhatIsListed: a name the listing hides (a backslash, a
// control character, a dot file) is not in the zip either.
func TestZipOnlyWhatIsListed(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.shared, "odd")
	os.MkdirAll(filepath.Join(dir, `sub\dir`), 0o755)
	for _, n := range []string{"plain.txt", `back\slash.txt`, "ctl\x01.txt", "new\nline.txt", ".dot", `sub\dir/inner.txt`} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := f.handler(t, ModeShare)
	page := get(t, h, "/files/odd/").Body.String()
	var listed []string
	for _, m := range regexp.MustCompile(`href="/files/odd/([^"]+)"`).FindAllStringSubmatch(page, -1) {
		listed = append(listed, "odd/"+m[1])
	}
	var zipped []string
	for n := range unzip(t, get(t, h, "/zip/odd").Body.Bytes()) {
		zipped = append(zipped, n)
	}
	sort.Strings(zipped)
	if strings.Join(zipped, "|") != "odd/plain.txt" || strings.Join(listed, "|") != "odd/plain.txt" {
		t.Fatalf("listing shows %q, zip holds %q; want only odd/plain.txt in both", listed, zipped)
	}
}
