package layers_test

import (
	"bytes"
	"testing"

	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/progress"
)

// Write reports the tar bytes it compresses, ending with the whole raw
// size as done and total.
func TestWriteReportsProgress(t *testing.T) {
	tw := layers.NewTar()
	for _, name := range []string{"a", "dir/b", "dir/c"} {
		if err := tw.AddBytes(name, bytes.Repeat([]byte("x"), 100000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	est := tw.EstimatedSize()
	var ups []progress.Update
	l, err := layers.Write(tw, t.TempDir(), layers.WriteOptions{
		Progress: func(u progress.Update) { ups = append(ups, u) },
		Name:     "checkpoint layer",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) < 3 {
		t.Fatalf("%d updates, want a start, steps and an end", len(ups))
	}
	if first := ups[0]; first.Op != progress.Compress || first.Name != "checkpoint layer" || first.Done != 0 || first.Total != est {
		t.Errorf("first update %+v, want compress of checkpoint layer at 0 of %d", first, est)
	}
	last := ups[len(ups)-1]
	if last.Done != l.RawSize() || last.Total != l.RawSize() {
		t.Errorf("last update %+v, want done = total = raw size %d", last, l.RawSize())
	}
	// The estimate misses only the parents WriteTo adds (one here, dir/).
	if d := l.RawSize() - est; d < 0 || d > 1024 {
		t.Errorf("EstimatedSize %d, raw size %d", est, l.RawSize())
	}
	for i := 1; i < len(ups); i++ {
		if ups[i].Done < ups[i-1].Done {
			t.Errorf("progress went back: %d after %d", ups[i].Done, ups[i-1].Done)
		}
	}
}
