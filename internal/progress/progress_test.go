package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestCounter(t *testing.T) {
	var ups []Update
	c := NewCounter(func(u Update) { ups = append(ups, u) }, Push, "reg/app:1", 10)
	if _, err := io.Copy(io.Discard, c.Reader(strings.NewReader("12345"))); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := c.Writer(&b).Write([]byte("6789")); err != nil {
		t.Fatal(err)
	}
	c.Finish()
	want := []Update{{Push, "reg/app:1", 0, 10}, {Push, "reg/app:1", 5, 10}, {Push, "reg/app:1", 9, 10}, {Push, "reg/app:1", 10, 10}}
	if len(ups) != len(want) {
		t.Fatalf("updates %+v, want %+v", ups, want)
	}
	for i := range want {
		if ups[i] != want[i] {
			t.Errorf("update %d = %+v, want %+v", i, ups[i], want[i])
		}
	}
	// An estimate below the real count ends at the count.
	ups = nil
	c = NewCounter(func(u Update) { ups = append(ups, u) }, Compress, "layer", 3)
	c.Add(7)
	c.Finish()
	if last := ups[len(ups)-1]; last.Done != 7 || last.Total != 7 {
		t.Errorf("last update %+v, want 7 of 7", last)
	}
}

func TestNilFuncReportsNothing(t *testing.T) {
	c := NewCounter(nil, Pull, "x", 1)
	c.Add(1)
	c.Finish()
	var f Func
	f.Report(Update{})
	var nc *Counter
	nc.Add(1)
	nc.Finish()
}
