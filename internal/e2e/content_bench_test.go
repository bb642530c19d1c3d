package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/onionkey"
	"tails-server/internal/testenv"
	"tails-server/internal/tor"
)

// uploadBenchRounds is how many uploads, per iteration, each server gets;
// the order alternates.
const uploadBenchRounds = 3

// BenchmarkFileshareUpload uploads the same 100 MiB file through the
// onion (curl -F through one independent client tor) to fileshare in
// receive mode and to a minimal Go upload handler in this process (it
// streams the multipart body to a file and syncs it, as fileshare does,
// then answers 201), published by a raw ADD_ONION on the daemon's own tor,
// so that one tor serves both. The two alternate, each upload on a fresh
// rendezvous circuit. It reports each one's median throughput (from the
// request's first byte to the answer), their ratio (target ≥ 0.95) and the
// daemon's VmRSS before, at most while fileshare receives (sampled every
// 50 ms) and after: fileshare streams, so memory stays flat.
//
//	go test -run '^$' -bench BenchmarkFileshareUpload -benchtime 1x ./internal/e2e
func BenchmarkFileshareUpload(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	testenv.RequireProgram(b, "curl")
	d := benchDaemon(b)
	c := client.New(d.socket)
	ctx := context.Background()
	src := randomFile(b, filepath.Join(b.TempDir(), "big.bin"), fileshareBenchSize)

	if _, err := c.SetOption(ctx, "fileshare", "mode", "receive"); err != nil {
		b.Fatal(err)
	}
	cred, err := c.AddClient(ctx, "fileshare", "bench")
	if err != nil {
		b.Fatal(err)
	}
	fsAddr, fsKey, err := onionkey.ParseAuthPrivateLine(cred.Credential)
	if err != nil {
		b.Fatal(err)
	}
	s, err := c.Enable(ctx, "fileshare", 4*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	if !s.Reachable {
		b.Fatalf("fileshare not reachable: %s %s", s.State, s.Error)
	}
	s, err = c.Info(ctx, "fileshare", true)
	if err != nil {
		b.Fatal(err)
	}
	receivedDir := filepath.Join(s.Details.DataDir, "data", "received")

	// The raw side: the handler, on the daemon's tor, with client auth too.
	rawDir := b.TempDir()
	srvAddr := startUploadHandler(b, rawDir)
	daemonTor := daemonControl(b, filepath.Dir(d.socket))
	defer daemonTor.Close()
	rawKey, _ := onionkey.GenerateServiceKey()
	rawClient, _ := onionkey.GenerateClientKey()
	if _, err := daemonTor.AddOnion(ctx, tor.AddOnionRequest{
		Key:          rawKey,
		Ports:        []tor.PortMapping{{Virtual: 80, Target: srvAddr}},
		ClientAuthV3: []string{rawClient.PublicBase32()},
	}); err != nil {
		b.Fatal(err)
	}

	cl := independentClient(b, "upload-bench", fsAddr, fsKey)
	ctl := controlOf(b, cl)
	defer ctl.Close()
	if err := ctl.OnionClientAuthAdd(ctx, rawKey.Address(), rawClient, "", false); err != nil {
		b.Fatal(err)
	}
	addr := map[string]string{"fileshare": fsAddr, "raw": rawKey.Address()}
	landed := map[string]string{"fileshare": filepath.Join(receivedDir, "big.bin"), "raw": filepath.Join(rawDir, "big.bin")}

	pid := d.cmd.Process.Pid
	rssBefore := procStatusKB(b, pid, "VmRSS")
	var fs, raw []float64
	maxDuring := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < uploadBenchRounds; r++ {
			order := []string{"fileshare", "raw"}
			if (i*uploadBenchRounds+r)%2 == 1 {
				order = []string{"raw", "fileshare"}
			}
			for _, svc := range order {
				freshPath(b, ctl, cl.SocksAddr, addr[svc])
				var stop func() int
				if svc == "fileshare" {
					stop = sampleRSS(pid)
				}
				mibs := curlUpload(b, cl.SocksAddr, "http://"+addr[svc]+".onion/upload", src)
				if stop != nil {
					maxDuring = max(maxDuring, stop())
				}
				if st, err := os.Stat(landed[svc]); err != nil || st.Size() != fileshareBenchSize {
					b.Fatalf("%s: the upload did not land whole in %s: %v", svc, landed[svc], err)
				}
				if svc == "fileshare" {
					fs = append(fs, mibs)
					if _, err := c.RemoveFiles(ctx, "fileshare", client.FilesQuery{Received: true}, []string{"big.bin"}); err != nil {
						b.Fatal(err)
					}
				} else {
					raw = append(raw, mibs)
					os.Remove(landed[svc])
				}
				b.Logf("round %d: %-9s %.2f MiB/s", i*uploadBenchRounds+r, svc, mibs)
			}
		}
	}
	b.StopTimer()
	rssAfter := procStatusKB(b, pid, "VmRSS")
	f, rw := median(fs), median(raw)
	b.ReportMetric(f, "MiB/s-fileshare")
	b.ReportMetric(rw, "MiB/s-raw-go")
	b.ReportMetric(f/rw, "ratio")
	b.ReportMetric(float64(rssBefore)/1024, "RSS-before-MiB")
	b.ReportMetric(float64(maxDuring)/1024, "RSS-max-during-MiB")
	b.ReportMetric(float64(rssAfter)/1024, "RSS-after-MiB")
}

// startUploadHandler serves POST /upload on loopback: each part of the
// form's "file" field is streamed to a file of its name in dir and synced;
// the answer is 201. It returns "127.0.0.1:PORT".
func startUploadHandler(b *testing.B, dir string) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if part.FormName() != "file" {
				continue
			}
			f, err := os.Create(filepath.Join(dir, filepath.Base(part.FileName())))
			if err == nil {
				_, err = io.Copy(f, part)
				if err == nil {
					err = f.Sync()
				}
				f.Close()
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusCreated)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// daemonControl opens an authenticated control connection to the tor
// that holds the onions of the daemon whose state is under dir (its
// DataDir's control-port and control_auth_cookie files); the daemon's
// other tor, tor-checker, is the self-check's client.
func daemonControl(b *testing.B, dir string) *tor.Conn {
	b.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == "control-port" && !strings.Contains(p, "tor-checker") {
			found = append(found, filepath.Dir(p))
		}
		return nil
	})
	if len(found) != 1 {
		b.Fatalf("want the daemon's one onion tor under %s, found %q", dir, found)
	}
	torDir := found[0]
	raw, err := os.ReadFile(filepath.Join(torDir, "control-port"))
	if err != nil {
		b.Fatalf("the daemon's tor: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "PORT=")
	if !ok {
		b.Fatalf("%s: %q is no PORT= line", torDir, raw)
	}
	b.Logf("raw onion on the daemon's tor %s, at %s", torDir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := tor.Dial(ctx, "tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.AuthenticateCookie(ctx, filepath.Join(torDir, "control_auth_cookie")); err != nil {
		c.Close()
		b.Fatal(err)
	}
	return c
}

// freshPath closes the client's rendezvous circuits to the onion addr and
// waits until it answers again: each transfer takes a new path through
// the relays, so that one slow path cannot favour either server.
func freshPath(b *testing.B, ctl *tor.Conn, socksAddr, addr string) {
	b.Helper()
	circs, err := ctl.Circuits(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, circ := range circs {
		if circ.RendQuery == addr && strings.HasPrefix(circ.Purpose, "HS_CLIENT_REND") {
			ctl.CloseCircuit(context.Background(), circ.ID)
		}
	}
	warmUp(b, socksAddr, "http://"+addr+".onion/")
}

// sampleRSS samples pid's VmRSS every 50 ms until the returned function is
// called, which returns the highest sample in kB.
func sampleRSS(pid int) func() int {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	peak := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			peak = max(peak, procStatusKBQuiet(pid, "VmRSS"))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() int {
		close(stop)
		wg.Wait()
		return peak
	}
}

// curlUpload posts file as the form field "file" to url through
// socksAddr, wants 201, and returns MiB/s of the file from the request's
// first byte (the stream's setup is not the server's doing) to the answer.
func curlUpload(b *testing.B, socksAddr, url, file string) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--socks5-hostname", socksAddr,
		"-F", "file=@"+file, "-o", "/dev/null", "-w", "%{http_code} %{size_upload} %{time_pretransfer} %{time_total}", url).Output()
	if err != nil {
		b.Fatalf("curl upload %s: %v", url, err)
	}
	var code int
	var size int64
	var pre, total float64
	if _, err := fmt.Sscan(string(out), &code, &size, &pre, &total); err != nil || code != http.StatusCreated || size < fileshareBenchSize || total <= pre {
		b.Fatalf("curl upload %s: %q (%v), want 201 and %d bytes sent", url, out, err, fileshareBenchSize)
	}
	return float64(fileshareBenchSize) / (1 << 20) / (total - pre)
}

// randomFile writes size random bytes to path, 8 MiB at a time.
func randomFile(b *testing.B, path string, size int64) string {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 8<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		n := min(left, int64(len(buf)))
		rand.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// filesAddBenchSize is the file BenchmarkFilesAdd adds: 1 GiB.
const filesAddBenchSize = 1 << 30

// filesAddBenchRounds is how many times, per iteration, each copy is
// timed; the order alternates.
const filesAddBenchRounds = 5

// BenchmarkFilesAdd times `tails-server files add fileshare FILE` of a
// 1 GiB file (the real CLI: it reads the file and streams it to the
// daemon, which writes it, syncs it and renames it into the shared
// folder) against `cp FILE DEST` into the same filesystem as the
// service's data folder, alternating. Fair: the same file, read once
// before so the page cache is warm for both; the copy is removed
// (`files remove`, rm) and everything synced, untimed, before each timed
// copy. It reports the median seconds of each, and ratio time(files
// add)/time(cp) (target ≤ 1.2); also cp followed by `sync FILE`, for the
// cost of the sync that files add does and cp does not.
//
//	go test -run '^$' -bench BenchmarkFilesAdd -benchtime 1x ./internal/e2e
func BenchmarkFilesAdd(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	d := benchDaemon(b)
	c := client.New(d.socket)
	ctx := context.Background()
	s, err := c.Info(ctx, "fileshare", true)
	if err != nil {
		b.Fatal(err)
	}
	base := filepath.Dir(d.socket) // holds the data folder, wherever it is
	var st syscall.Statfs_t
	if err := syscall.Statfs(base, &st); err != nil {
		b.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	b.Logf("free on the disk of %s (data folder %s): %.1f GiB", base, s.Details.DataDir, float64(free)/(1<<30))
	if free < 3<<30 {
		b.Skipf("only %.1f GiB free on the disk of the data folder (%s): the benchmark needs 3 GiB (the file and one copy)", float64(free)/(1<<30), base)
	}
	src := randomFile(b, filepath.Join(base, "big.bin"), filesAddBenchSize)
	dest := filepath.Join(base, "cp-copy.bin")
	shared := filepath.Join(s.Details.DataDir, "data", "share", "big.bin")
	if err := exec.Command("cat", src).Run(); err != nil { // warm the cache for both
		b.Fatal(err)
	}
	timed := func(name string, args ...string) float64 {
		syscall.Sync()
		start := time.Now()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return time.Since(start).Seconds()
	}
	whole := func(p string) {
		if st, err := os.Stat(p); err != nil || st.Size() != filesAddBenchSize {
			b.Fatalf("%s is not the whole copy: %v", p, err)
		}
	}
	var add, cp, cpSync []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < filesAddBenchRounds; r++ {
			steps := []string{"add", "cp", "cp+sync"}
			if (i*filesAddBenchRounds+r)%2 == 1 {
				steps = []string{"cp+sync", "cp", "add"}
			}
			for _, step := range steps {
				var sec float64
				switch step {
				case "add":
					sec = timed(bin, "--socket", d.socket, "files", "add", "fileshare", src)
					whole(shared)
					add = append(add, sec)
					if _, err := c.RemoveFiles(ctx, "fileshare", client.FilesQuery{}, []string{"big.bin"}); err != nil {
						b.Fatal(err)
					}
				case "cp":
					sec = timed("cp", src, dest)
					whole(dest)
					cp = append(cp, sec)
					os.Remove(dest)
				case "cp+sync":
					sec = timed("sh", "-c", `cp "$1" "$2" && sync "$2"`, "sh", src, dest)
					whole(dest)
					cpSync = append(cpSync, sec)
					os.Remove(dest)
				}
				b.Logf("round %d: %-8s %.2f s", i*filesAddBenchRounds+r, step, sec)
			}
		}
	}
	b.StopTimer()
	a, p, ps := median(add), median(cp), median(cpSync)
	b.ReportMetric(a, "s-files-add")
	b.ReportMetric(p, "s-cp")
	b.ReportMetric(ps, "s-cp+sync")
	b.ReportMetric(a/p, "ratio")
	b.ReportMetric(a/ps, "ratio-vs-cp+sync")
}
