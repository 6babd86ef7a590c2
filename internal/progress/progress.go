package progress

import (
	"io"
	"sync/atomic"
)

// Operations reported.
const (
	Pull     = "pull"     // reading a base image's layers from a registry
	Unpack   = "unpack"   // reading a local base image's layers
	Compress = "compress" // writing a layer
	Push     = "push"     // uploading an image
)

// Update says how far one operation is. Updates of one operation share Op
// and Name; Done grows up to Total (0: unknown).
type Update struct {
	Op    string
	Name  string
	Done  int64
	Total int64
}

// Func receives updates. It may be called from several goroutines of one
// operation, but operations do not overlap.
type Func func(Update)

// Report calls f if it is set.
func (f Func) Report(u Update) {
	if f != nil {
		f(u)
	}
}

// Counter counts bytes of one operation and reports each step.
type Counter struct {
	f        Func
	op, name string
	total    int64
	done     atomic.Int64
}

// NewCounter starts an operation of total bytes (0: unknown) and reports
// it at zero. A nil f makes a counter that reports nothing.
func NewCounter(f Func, op, name string, total int64) *Counter {
	c := &Counter{f: f, op: op, name: name, total: total}
	f.Report(Update{Op: op, Name: name, Total: total})
	return c
}

// Add counts n more bytes.
func (c *Counter) Add(n int64) {
	if c == nil || c.f == nil {
		return
	}
	d := c.done.Add(n)
	c.f(Update{Op: c.op, Name: c.name, Done: d, Total: c.total})
}

// Finish reports the operation as complete (Done = Total, or the count
// when the total was unknown or an estimate below it).
func (c *Counter) Finish() {
	if c == nil || c.f == nil {
		return
	}
	d := c.done.Load()
	t := c.total
	if d > t {
		t = d
	}
	c.f(Update{Op: c.op, Name: c.name, Done: t, Total: t})
}

// Reader counts what is read through r.
func (c *Counter) Reader(r io.Reader) io.Reader { return &reader{r: r, c: c} }

// Writer counts what is written through w.
func (c *Counter) Writer(w io.Writer) io.Writer { return &writer{w: w, c: c} }

type reader struct {
	r io.Reader
	c *Counter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.c.Add(int64(n))
	}
	return n, err
}

type writer struct {
	w io.Writer
	c *Counter
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if n > 0 {
		w.c.Add(int64(n))
	}
	return n, err
}
