package cli

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// The files verbs work on a service's folders of content. This process,
// the person's own, reads the files it adds and writes the files it
// saves: the daemon, root, never opens a path named here.

func filesVerbs() []subcommand {
	return []subcommand{
		{name: "add", args: "SERVICE PATH... [--to FOLDER] [--replace] [--folder NAME]", summary: "copy files or folders (read as you) into the service's offered folder, all at once when complete; a folder named with a trailing / adds what it holds", doc: "copy files or folders into the service's offered folder (fileshare's `share`, web's site): read by the CLI as you (a file you cannot read, a symbolic link pointing outside the folder named, a name with `/`, `..`, a control or format character or over 255 bytes is refused before anything is sent), streamed, with a progress bar on a terminal for 16 MiB or more, written to a staging folder and moved into place only once complete; a name that exists is refused unless `--replace` (web's own welcome page gives way); a folder with a trailing `/` adds what it holds; `--to` a folder inside; a full disk, a cut-off stream or a refusal leaves nothing"},
		{name: "list", args: "SERVICE [--received] [--folder NAME]", summary: "list the files offered (or received, with --received): name, size, time (UTC), downloads so far", doc: "the files offered (or received): `name`, `size`, `modified` (UTC), `downloads` so far when the backend counts them (fileshare: complete downloads of that version of the file, kept across restarts; see `docs/services/fileshare.md`)"},
		{name: "remove", args: "SERVICE NAME... [--received] [--folder NAME]", summary: "remove files or folders (all names are checked first)", doc: "remove files or folders; every name is checked first, and if one is missing nothing is removed"},
		{name: "save", args: "SERVICE NAME... --to DIR [--folder NAME]", summary: "write received files to DIR, yours, never overwriting (name (1), name (2), ...)", doc: "write received files into DIR, by the CLI, so they are yours (mode 0600): each to a temporary file, synced, then linked to a free name (`name (1).ext`, ...), never overwriting; prints where each went"},
	}
}

func runFiles(e *env, args []string) error {
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	to := fs.String("to", "", "add: a folder inside the service's folder to add to; save: the folder to write the files to")
	replace := fs.Bool("replace", false, "add: replace files or folders of the same name")
	received := fs.Bool("received", false, "list, remove: the received folder (the files visitors sent)")
	folder := fs.String("folder", "", "the service's content folder, by name (default: its first offered one; for save, its first received one)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	cmd, _ := lookup("files")
	if len(pos) == 0 {
		return usageErr("files takes %s", cmd.subList())
	}
	verb, rest := pos[0], pos[1:]
	q := client.FilesQuery{Folder: *folder, Received: *received}
	switch verb {
	case "add":
		if len(rest) < 2 {
			return usageErr("files add takes a service name and the files or folders to add")
		}
		if *received {
			return usageErr("files add: --received: visitors put files in the received folder; add to the offered one")
		}
		return filesAdd(e, rest[0], rest[1:], client.AddOptions{Folder: *folder, To: *to, Replace: *replace})
	case "list":
		if err := wantArgs("files list", rest, 1, "a service name"); err != nil {
			return err
		}
		l, err := e.client().ListFiles(e.ctx, rest[0], q)
		if err != nil {
			return err
		}
		return e.print(l)
	case "remove":
		if len(rest) < 2 {
			return usageErr("files remove takes a service name and the names to remove")
		}
		r, err := e.client().RemoveFiles(e.ctx, rest[0], q, rest[1:])
		if err != nil {
			return err
		}
		return e.print(r)
	case "save":
		if len(rest) < 2 {
			return usageErr("files save takes a service name and the names of the files to save")
		}
		if *to == "" {
			return usageErr("files save: --to DIR says where to write the files")
		}
		return filesSave(e, rest[0], rest[1:], *folder, *to)
	}
	return unknownVerb(cmd, verb)
}

// localEntry is one file or folder to send, as it is named in the stream
// and where it is here.
type localEntry struct {
	name  string // in the stream, slash-separated
	local string
	dir   bool
	size  int64
}

// planAdd walks the paths as this user and lists what to send; anything
// this user cannot read, a symlink pointing outside the folder named, or
// anything but files and folders is refused before anything is sent.
func planAdd(e *env, paths []string) ([]localEntry, int64, error) {
	var out []localEntry
	var total int64
	tops := map[string]string{}
	for _, p := range paths {
		fi, err := os.Stat(p) // a symlink named on the command line is followed
		if err != nil {
			return nil, 0, fmt.Errorf("cannot add %s: %w", p, unwrapPath(err))
		}
		contents := fi.IsDir() && (strings.HasSuffix(p, "/") || filepath.Base(p) == ".")
		base := filepath.Base(filepath.Clean(p))
		if !contents {
			if err := apitype.CheckName(base); err != nil {
				return nil, 0, fmt.Errorf("cannot add %s: %w", p, err)
			}
		}
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				return nil, 0, fmt.Errorf("cannot add %s: not a regular file nor a folder", p)
			}
			if err := readable(p); err != nil {
				return nil, 0, err
			}
			if prev, dup := tops[base]; dup {
				return nil, 0, fmt.Errorf("cannot add %s and %s: both are named %s", prev, p, base)
			}
			tops[base] = p
			out = append(out, localEntry{name: base, local: p, size: fi.Size()})
			total += fi.Size()
			continue
		}
		root, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, 0, fmt.Errorf("cannot add %s: %w", p, unwrapPath(err))
		}
		prefix := base
		if contents {
			prefix = ""
		}
		err = filepath.WalkDir(root, func(lp string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("cannot add %s: %w", shown(p, root, lp), unwrapPath(err))
			}
			rel, _ := filepath.Rel(root, lp)
			name := path.Join(prefix, filepath.ToSlash(rel))
			if rel == "." {
				if contents {
					return nil
				}
				name = prefix
			} else if strings.HasPrefix(d.Name(), ".") {
				fmt.Fprintf(e.stderr, "tails-server: note: skipped %s (names starting with a dot are never offered)\n", shown(p, root, lp))
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if err := apitype.CheckName(name); err != nil {
				return fmt.Errorf("cannot add %s: %w", shown(p, root, lp), err)
			}
			top, _, _ := strings.Cut(name, "/")
			if prev, dup := tops[top]; dup && prev != p {
				return fmt.Errorf("cannot add %s and %s: both hold %s", prev, p, top)
			}
			tops[top] = p
			target := lp
			if d.Type()&fs.ModeSymlink != 0 {
				t, err := filepath.EvalSymlinks(lp)
				if err != nil {
					return fmt.Errorf("cannot add %s: a symbolic link that leads nowhere", shown(p, root, lp))
				}
				if r, err := filepath.Rel(root, t); err != nil || !filepath.IsLocal(r) {
					return fmt.Errorf("cannot add %s: a symbolic link pointing outside %s; copy the file it points to into the folder instead", shown(p, root, lp), p)
				}
				target = t
			}
			fi, err := os.Stat(target)
			if err != nil {
				return fmt.Errorf("cannot add %s: %w", shown(p, root, lp), unwrapPath(err))
			}
			switch {
			case fi.IsDir() && target != lp:
				return fmt.Errorf("cannot add %s: a symbolic link to a folder; only links to files are followed", shown(p, root, lp))
			case fi.IsDir():
				if err := readableDir(lp); err != nil {
					return fmt.Errorf("cannot add %s: %w", shown(p, root, lp), err)
				}
				out = append(out, localEntry{name: name, local: lp, dir: true})
			case fi.Mode().IsRegular():
				if err := readable(target); err != nil {
					return fmt.Errorf("cannot add %s: %w", shown(p, root, lp), errors.Unwrap(err))
				}
				out = append(out, localEntry{name: name, local: target, size: fi.Size()})
				total += fi.Size()
			default:
				return fmt.Errorf("cannot add %s: not a regular file nor a folder", shown(p, root, lp))
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	if len(out) == 0 {
		return nil, 0, errors.New("nothing to add: the folders hold no file")
	}
	return out, total, nil
}

// shown is a path inside the folder p (resolved to root) as the person
// named it.
func shown(p, root, lp string) string {
	rel, err := filepath.Rel(root, lp)
	if err != nil || rel == "." {
		return p
	}
	return filepath.Join(p, rel)
}

// readable checks that this user can read the file p.
func readable(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot add %s: %w", p, unwrapPath(err))
	}
	return f.Close()
}

func readableDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return unwrapPath(err)
	}
	_, err = f.Readdirnames(1)
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return unwrapPath(err)
	}
	return nil
}

// unwrapPath is what an *fs.PathError says without its path (the message
// names it already), in words a person reads.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return errors.New("permission denied (you cannot read it; nothing was added)")
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file or folder")
	}
	return err
}

// progressMin is the size from which an add shows a progress bar (on a
// terminal).
const progressMin = 16 << 20

func filesAdd(e *env, service string, paths []string, opt client.AddOptions) error {
	entries, total, err := planAdd(e, paths)
	if err != nil {
		return err
	}
	opt.Total = total
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var bar *progressBar
	if total >= progressMin && isTerminal(e.stderr) {
		bar = newProgressBar(e.stderr, true)
	}
	go func() {
		pw.CloseWithError(writeTar(pw, entries, total, bar, service))
	}()
	res, err := e.client().AddFiles(ctx, service, opt, pr)
	pr.CloseWithError(errors.New("the daemon stopped reading"))
	if bar != nil {
		bar.done()
	}
	if err != nil {
		return err
	}
	return e.print(res)
}

// writeTar streams the entries, each file read as it was planned: one
// that changed into something else, or whose size changed, ends the
// stream with an error (the daemon then adds nothing).
func writeTar(w io.Writer, entries []localEntry, total int64, bar *progressBar, service string) error {
	tw := tar.NewWriter(w)
	var sent int64
	last := -1.0
	show := func() {
		if bar == nil || total == 0 {
			return
		}
		pct := float64(int(float64(sent) / float64(total) * 100))
		if pct != last {
			last = pct
			bar.show(apitype.Progress{Service: service, Step: fmt.Sprintf("sending %s of %s", sizeOf(sent), sizeOf(total)), Percent: &pct})
		}
	}
	for _, en := range entries {
		if en.dir {
			if err := tw.WriteHeader(&tar.Header{Name: en.name + "/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX}); err != nil {
				return err
			}
			continue
		}
		f, err := os.OpenFile(en.local, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", en.local, unwrapPath(err))
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return fmt.Errorf("%s is no longer a regular file", en.local)
		}
		if err := tw.WriteHeader(&tar.Header{Name: en.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), Format: tar.FormatPAX}); err != nil {
			f.Close()
			return err
		}
		for {
			n, err := io.CopyN(tw, f, 1<<20)
			sent += n
			show()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("reading %s: %w", en.local, err)
			}
		}
		f.Close()
	}
	return tw.Close()
}

func sizeOf(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// filesSave writes each named file to dir under a name no file there has
// (name, name (1).ext, ...): to a temporary file first, synced, then
// linked to its name, which never replaces a file.
func filesSave(e *env, service string, names []string, folder, dir string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("cannot save to %s: not a folder of yours (create it first)", dir)
	}
	var out []apitype.SavedFile
	for _, n := range names {
		saved, err := saveOne(e, service, folder, n, dir)
		if err != nil {
			if len(out) > 0 {
				e.print(out)
			}
			return err
		}
		out = append(out, saved)
	}
	return e.print(out)
}

func saveOne(e *env, service, folder, name, dir string) (apitype.SavedFile, error) {
	body, size, err := e.client().OpenFile(e.ctx, service, folder, name)
	if err != nil {
		return apitype.SavedFile{}, err
	}
	defer body.Close()
	base := path.Base(name)
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return apitype.SavedFile{}, fmt.Errorf("cannot save to %s: %w", dir, unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, body)
	if err == nil && size >= 0 && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return apitype.SavedFile{}, fmt.Errorf("saving %s: %w; nothing was written", name, err)
	}
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for i := 0; i < 10000; i++ {
		final := base
		if i > 0 {
			final = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		p := filepath.Join(dir, final)
		err := os.Link(tmp.Name(), p)
		if err == nil {
			if d, err := os.Open(dir); err == nil {
				d.Sync()
				d.Close()
			}
			return apitype.SavedFile{Name: name, Path: p, Size: n}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return apitype.SavedFile{}, fmt.Errorf("saving %s: %w", name, err)
		}
	}
	return apitype.SavedFile{}, fmt.Errorf("saving %s: no free name in %s", name, dir)
}
