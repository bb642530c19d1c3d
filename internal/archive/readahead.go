package archive

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
)

// readAhead reads r in a goroutine of its own, up to readAheadBlocks
// blocks of readAheadSize ahead of its reader: decryption then runs on
// one core while the extraction hashes and writes on another, as in a
// `age -d | tar -x` pipe. Memory stays bounded (the blocks in flight).
type readAhead struct {
	blocks chan []byte
	free   chan []byte
	err    error // set before blocks is closed
	cur    []byte
	buf    []byte
	done   chan struct{}
}

const (
	readAheadSize   = 1 << 20
	readAheadBlocks = 4
)

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{blocks: make(chan []byte, readAheadBlocks), free: make(chan []byte, readAheadBlocks+1), done: make(chan struct{})}
	for i := 0; i < readAheadBlocks+1; i++ {
		ra.free <- make([]byte, readAheadSize)
	}
	go func() {
		defer close(ra.blocks)
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				select {
				case ra.blocks <- b[:n]:
				case <-ra.done:
					return
				}
			}
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.blocks
		if !ok {
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine.
func (ra *readAhead) Close() { close(ra.done) }

// startWriteback asks the kernel to start writing f's data out now
// (sync_file_range, SYNC_FILE_RANGE_WRITE), without waiting: the fsync at
// the end finds it written, and the disk works while the next member is
// decrypted.
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2
	syscall.SyncFileRange(int(f.Fd()), 0, 0, syncFileRangeWrite)
}

// writeBehind is readAhead's counterpart for the writer: Write copies
// into blocks that a goroutine of its own writes to w (the encryption),
// so that hashing and encrypting run on two cores, as in a `tar | age`
// pipe. Close flushes and returns the first error of w.
type writeBehind struct {
	blocks chan []byte
	free   chan []byte
	cur    []byte
	done   chan error
	err    error
	closed bool
	// failed is the goroutine's first write error, seen by Write.
	failed atomic.Pointer[error]
}

func newWriteBehind(w io.Writer) *writeBehind {
	wb := &writeBehind{blocks: make(chan []byte, readAheadBlocks), free: make(chan []byte, readAheadBlocks+1), done: make(chan error, 1)}
	for i := 0; i < readAheadBlocks+1; i++ {
		wb.free <- make([]byte, 0, readAheadSize)
	}
	wb.cur = <-wb.free
	go func() {
		var err error
		for b := range wb.blocks {
			if err == nil {
				if _, err = w.Write(b); err != nil {
					wb.failed.Store(&err)
				}
			}
			wb.free <- b[:0]
		}
		wb.done <- err
	}()
	return wb
}

func (wb *writeBehind) Write(p []byte) (int, error) {
	if wb.err != nil {
		return 0, wb.err
	}
	if e := wb.failed.Load(); e != nil {
		return 0, *e
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(wb.cur[len(wb.cur):cap(wb.cur)], p)
		wb.cur = wb.cur[:len(wb.cur)+k]
		p = p[k:]
		if len(wb.cur) == cap(wb.cur) {
			wb.blocks <- wb.cur
			wb.cur = <-wb.free
		}
	}
	return n, nil
}

// Close writes what is left and waits for the goroutine; safe twice.
func (wb *writeBehind) Close() error {
	if wb.closed {
		return wb.err
	}
	wb.closed = true
	if len(wb.cur) > 0 {
		wb.blocks <- wb.cur
	}
	close(wb.blocks)
	if err := <-wb.done; err != nil {
		wb.err = err
		return err
	}
	wb.err = errors.New("archive writer closed")
	return nil
}
