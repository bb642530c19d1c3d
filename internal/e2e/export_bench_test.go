package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"tails-server/internal/onionkey"
	"tails-server/internal/store"
	"tails-server/internal/testenv"
)

// exportBenchFiles and exportBenchFileSize make the data folder of
// BenchmarkExportImport: 16 files of 64 MiB, 1 GiB of random bytes.
const (
	exportBenchFiles    = 16
	exportBenchFileSize = 64 << 20
)

// BenchmarkExportImport measures `export web --recipient R` from daemon A
// and `import --identity ID --yes` on daemon B of a service with 1 GiB of
// data, against the same work done by `tar -c DIR | age -r R > FILE` and
// `age -d -i ID FILE | tar -x` on the same disk, alternating. Fair: the
// same folder, read once before so that the page cache is warm for all;
// everything synced, untimed, before each timed step; the anchors end
// with a sync of what they wrote, since export fsyncs its file and
// import every file it stages (an archive or an import that a crash
// could lose is no backup). It reports the median seconds of each, the
// ratios time(anchor)/time(ours) (target ≥ 0.8: throughput at least 80%
// of tar|age's), and the daemons' memory: VmRSS before, and the highest
// sampled every 50 ms during the export (A) and the import (B).
//
//	go test -run '^$' -bench BenchmarkExportImport -benchtime 1x ./internal/e2e
func BenchmarkExportImport(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	testenv.RequireProgram(b, "age")
	testenv.RequireProgram(b, "tar")
	dir := b.TempDir()
	// The daemons' tors and backends run as users of their own and must
	// traverse to their dirs.
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			b.Fatal(err)
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatal(err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < 6<<30 {
		b.Fatalf("only %.1f GiB free in %s: the benchmark needs 6 GiB (the folder, two archives, two copies)", float64(free)/(1<<30), dir)
	}
	// Daemon A's web: a key, a record and 1 GiB in its folder, as
	// enable and files add would leave them.
	adir := filepath.Join(dir, "a")
	sa, err := store.Open(filepath.Join(adir, "state"), filepath.Join(adir, "volatile"))
	if err != nil {
		b.Fatal(err)
	}
	k, _ := onionkey.GenerateServiceKey()
	if err := sa.Save(&store.Service{Name: "web", Address: k.Address()}); err != nil {
		b.Fatal(err)
	}
	if err := sa.WriteKey("web", k.SecretKeyFile()); err != nil {
		b.Fatal(err)
	}
	svcDir := sa.ServiceDir("web")
	www := filepath.Join(svcDir, "data", "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < exportBenchFiles; i++ {
		randomFile(b, filepath.Join(www, "part-"+string(rune('a'+i))+".bin"), exportBenchFileSize)
	}
	if err := exec.Command("sh", "-c", `cat "$1"/* > /dev/null`, "sh", www).Run(); err != nil { // warm the cache
		b.Fatal(err)
	}
	a := benchDaemonIn(b, adir)
	bd := benchDaemonIn(b, filepath.Join(dir, "b"))

	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(dir, "id.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	rcpt := id.Recipient().String()
	ours, anchor := filepath.Join(dir, "ours.age"), filepath.Join(dir, "anchor.age")
	extracted := filepath.Join(dir, "extracted")

	timed := func(pid int, name string, args ...string) (float64, int) {
		syscall.Sync()
		var peak func() int
		if pid > 0 {
			peak = sampleRSS(pid)
		}
		start := time.Now()
		out, err := exec.Command(name, args...).CombinedOutput()
		sec := time.Since(start).Seconds()
		kb := 0
		if peak != nil {
			kb = peak()
		}
		if err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return sec, kb
	}
	var exp, tarAge, imp, ageTar []float64
	rssA, rssB := procStatusKB(b, a.cmd.Process.Pid, "VmRSS"), procStatusKB(b, bd.cmd.Process.Pid, "VmRSS")
	peakA, peakB := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < 2; r++ {
			os.Remove(ours)
			os.Remove(anchor)
			os.RemoveAll(extracted)
			steps := []string{"export", "tar|age", "import", "age|tar"}
			if (i*2+r)%2 == 1 {
				steps = []string{"tar|age", "export", "age|tar", "import"}
			}
			for _, step := range steps {
				var sec float64
				var kb int
				switch step {
				case "export":
					sec, kb = timed(a.cmd.Process.Pid, bin, "--socket", a.socket, "export", "web", "--to", ours, "--recipient", rcpt)
					exp, peakA = append(exp, sec), max(peakA, kb)
				case "tar|age":
					sec, _ = timed(0, "sh", "-c", `tar -C "$1" -cf - . | age -r "$2" > "$3" && sync "$3"`, "sh", svcDir, rcpt, anchor)
					tarAge = append(tarAge, sec)
				case "import":
					sec, kb = timed(bd.cmd.Process.Pid, bin, "--socket", bd.socket, "import", ours, "--identity", idFile, "--yes")
					imp, peakB = append(imp, sec), max(peakB, kb)
				case "age|tar":
					sec, _ = timed(0, "sh", "-c", `mkdir "$3" && age -d -i "$2" "$1" | tar -C "$3" -xf - && sync -f "$3"`, "sh", anchor, idFile, extracted)
					ageTar = append(ageTar, sec)
				}
				b.Logf("round %d: %-8s %.2f s", i*2+r, step, sec)
			}
		}
	}
	b.StopTimer()
	e, ta, im, at := median(exp), median(tarAge), median(imp), median(ageTar)
	b.ReportMetric(e, "s-export")
	b.ReportMetric(ta, "s-tar|age")
	b.ReportMetric(ta/e, "export-ratio")
	b.ReportMetric(im, "s-import")
	b.ReportMetric(at, "s-age|tar")
	b.ReportMetric(at/im, "import-ratio")
	b.ReportMetric(float64(rssA)/1024, "RSS-A-before-MiB")
	b.ReportMetric(float64(peakA)/1024, "RSS-A-max-export-MiB")
	b.ReportMetric(float64(rssB)/1024, "RSS-B-before-MiB")
	b.ReportMetric(float64(peakB)/1024, "RSS-B-max-import-MiB")
}
