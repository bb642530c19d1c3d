package archive

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
)

// benchSize is what one iteration of the archive benchmarks carries.
const benchSize = 256 << 20

// BenchmarkWrite writes an archive of one file of benchSize bytes to
// io.Discard, against age alone encrypting the same bytes (the anchor,
// same run): what tar, the manifest's SHA-256 and the write-behind add.
// Reported as MB/s of each and their ratio (ours/age).
func BenchmarkWrite(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	data := bytes.Repeat([]byte{0x5a}, 1<<20)
	src := func() io.Reader { return io.LimitReader(repeatReader(data), benchSize) }
	var ours, anchor float64
	for i := 0; i < b.N; i++ {
		ours += timeIt(func() {
			w, err := NewWriter(io.Discard, Header{Kind: KindService}, id.Recipient())
			if err != nil {
				b.Fatal(err)
			}
			if err := w.File("f", 0o600, benchSize, src()); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
		anchor += timeIt(func() {
			w, _ := age.Encrypt(io.Discard, id.Recipient())
			io.Copy(w, src())
			w.Close()
		})
	}
	b.ReportMetric(float64(b.N)*benchSize/1e6/ours, "MB/s-archive")
	b.ReportMetric(float64(b.N)*benchSize/1e6/anchor, "MB/s-age")
	b.ReportMetric(anchor/ours, "ratio")
}

// BenchmarkExtract extracts such an archive into a folder (files synced),
// against age alone decrypting it to io.Discard.
func BenchmarkExtract(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	data := bytes.Repeat([]byte{0x5a}, 1<<20)
	arch := filepath.Join(b.TempDir(), "a.age")
	f, _ := os.Create(arch)
	w, _ := NewWriter(f, Header{Kind: KindService, Services: []Service{{Name: "x", Dir: "x"}}}, id.Recipient())
	w.Dir("x", 0o700)
	w.File("x/f", 0o600, benchSize, io.LimitReader(repeatReader(data), benchSize))
	w.Close()
	f.Close()
	var ours, anchor float64
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		ours += timeIt(func() {
			f, _ := os.Open(arch)
			defer f.Close()
			if _, _, err := Extract(f, dir, Limits{}, id); err != nil {
				b.Fatal(err)
			}
		})
		os.RemoveAll(dir)
		anchor += timeIt(func() {
			f, _ := os.Open(arch)
			defer f.Close()
			r, _ := age.Decrypt(f, id)
			io.Copy(io.Discard, r)
		})
	}
	b.ReportMetric(float64(b.N)*benchSize/1e6/ours, "MB/s-extract")
	b.ReportMetric(float64(b.N)*benchSize/1e6/anchor, "MB/s-age-d")
	b.ReportMetric(anchor/ours, "ratio")
}

// repeatReader repeats its bytes for ever.
type repeatReader []byte

func (r repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r)
	}
	return n, nil
}

// timeIt returns the seconds f takes.
func timeIt(f func()) float64 {
	start := time.Now()
	f()
	return time.Since(start).Seconds()
}
