package services

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"path"
	"strings"

	"tails-server/internal/apitype"
)

// addEntry is one file or folder of what an add sends.
type addEntry struct {
	name string
	dir  bool
	size int64 // -1: not known before its end (a form's file)
	data io.Reader
}

// addEntries is what an add reads: a tar stream or a form's files. next
// returns io.EOF after the last entry.
type addEntries interface{ next() (addEntry, error) }

type tarEntries struct{ r *tar.Reader }

func (t tarEntries) next() (addEntry, error) {
	hdr, err := t.r.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return addEntry{}, io.EOF
		}
		return addEntry{}, cutOff(err)
	}
	isDir := hdr.Typeflag == tar.TypeDir
	if !isDir && hdr.Typeflag != tar.TypeReg {
		return addEntry{}, badRequest("%q is %s: only files and folders can be added", hdr.Name, tarKind(hdr.Typeflag))
	}
	name := hdr.Name
	if isDir {
		name = strings.TrimSuffix(name, "/")
	}
	if hdr.Size < 0 {
		return addEntry{}, badRequest("%q has a negative size", name)
	}
	return addEntry{name: name, dir: isDir, size: hdr.Size, data: t.r}, nil
}

// formEntries are the files of a multipart/form-data body. A browser
// sends the base name of each file picked; a part with no file name is
// an empty file input (nothing picked), skipped.
type formEntries struct{ r *multipart.Reader }

func (f formEntries) next() (addEntry, error) {
	for {
		p, err := f.r.NextPart()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return addEntry{}, io.EOF
			}
			return addEntry{}, badRequest("the form's files were cut off or are not a form (multipart/form-data): %v; nothing was added", err)
		}
		if p.FormName() != "file" {
			return addEntry{}, badRequest("the form has a field %q: only files (field \"file\") can be added", p.FormName())
		}
		// FileName gives the last element of the name the browser sent.
		name := p.FileName()
		if name == "" {
			if _, err := io.Copy(io.Discard, io.LimitReader(p, 1)); err != nil {
				return addEntry{}, cutOff(err)
			}
			continue
		}
		return addEntry{name: name, size: -1, data: p}, nil
	}
}

// read writes the entries into the staging folder and returns the names
// at its top, in the order sent.
func (st *staging) read(ctx context.Context, body io.Reader, req AddRequest, res *apitype.AddResult) ([]string, error) {
	var src addEntries = tarEntries{tar.NewReader(body)}
	if req.Boundary != "" {
		src = formEntries{multipart.NewReader(body, req.Boundary)}
	}
	var tops []string
	seen := map[string]bool{}
	topSeen := map[string]bool{}
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e, err := src.next()
		if errors.Is(err, io.EOF) {
			return tops, nil
		}
		if err != nil {
			return nil, err
		}
		if n >= MaxAddEntries {
			return nil, badRequest("more than %d files and folders in one add; add them in parts", MaxAddEntries)
		}
		if err := apitype.CheckName(e.name); err != nil {
			return nil, badRequest("%v", err)
		}
		if seen[e.name] {
			return nil, badRequest("%q is twice in what was sent", e.name)
		}
		seen[e.name] = true
		top, _, _ := strings.Cut(e.name, "/")
		if !topSeen[top] {
			topSeen[top] = true
			tops = append(tops, top)
			// Refused at once, before its data is read, if it exists.
			if err := st.conflict(top, req); err != nil {
				return nil, err
			}
		}
		if dir := path.Dir(e.name); dir != "." {
			if err := st.mkdirs(dir); err != nil {
				return nil, err
			}
		}
		if e.dir {
			if err := st.dir.Mkdir(e.name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, err
			}
			st.chown(e.name)
			continue
		}
		if e.size >= 0 {
			if err := st.room(e.size, fmt.Sprintf("%q", e.name)); err != nil {
				return nil, err
			}
		}
		written, err := st.write(e.name, e.data, e.size)
		if err != nil {
			return nil, err
		}
		res.Files++
		res.Bytes += written
	}
}

// roomChunk is how much of a file of unknown size is written between two
// checks of the free space.
const roomChunk = 8 << 20

// roomReader reads a file whose size is not known ahead, checking before
// each roomChunk that the disk keeps its reserve: a form's file that
// would fill it is refused part-way, like a tar file at its header.
type roomReader struct {
	st   *staging
	r    io.Reader
	what string
	left int64 // bytes that may be read before the next check
	n    int64
}

func (rr *roomReader) Read(b []byte) (int, error) {
	if rr.left <= 0 {
		if err := rr.st.room(roomChunk, rr.what); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Msg = fmt.Sprintf("not enough free space for %s: the disk would keep less than its reserve after %s; nothing was added", rr.what, apitype.SizeText(rr.n))
			}
			return 0, err
		}
		rr.left = roomChunk
	}
	if int64(len(b)) > rr.left {
		b = b[:rr.left]
	}
	n, err := rr.r.Read(b)
	rr.left -= int64(n)
	rr.n += int64(n)
	return n, err
}

// cutOff is the error of a stream that ended early or is not tar.
func cutOff(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) {
		return badRequest("the files were cut off before their end; nothing was added")
	}
	return badRequest("what was sent is not a stream of files (tar): %v; nothing was added", err)
}

func tarKind(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a FIFO"
	}
	return fmt.Sprintf("of tar type %q", t)
}
