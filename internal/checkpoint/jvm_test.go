package checkpoint

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

// heapInfos are GC.heap_info outputs of examples/hello after GC.run, from
// OpenJDK 17, 21 and 25 (Debian), as the pre-dump step reads them.
var heapInfos = []struct {
	name            string
	out             string
	used, committed int64
}{
	{"G1 17", `129:
 garbage-first heap   total 36864K, used 25056K [0x0000000687400000, 0x0000000800000000)
  region size 4096K, 1 young (4096K), 0 survivors (0K)
 Metaspace       used 18516K, committed 19008K, reserved 1114112K
  class space    used 1387K, committed 1600K, reserved 1048576K
`, 25056 << 10, 36864 << 10},
	{"G1 25", `garbage-first heap   total reserved 6172672K, committed 32768K, used 24770K [0x0000000687400000, 0x0000000800000000)
 region size 4096K, 1 young (4096K), 0 survivors (0K)
 Metaspace       used 20464K, committed 20736K, reserved 1114112K
`, 24770 << 10, 32768 << 10},
	{"Serial 21", ` def new generation   total 11264K, used 203K [0x0000000687400000, 0x0000000688030000, 0x0000000704d50000)
  eden space 10048K,   2% used [0x0000000687400000, 0x0000000687432e38, 0x0000000687dd0000)
  from space 1216K,   0% used [0x0000000687dd0000, 0x0000000687dd0000, 0x0000000687f00000)
  to   space 1216K,   0% used [0x0000000687f00000, 0x0000000687f00000, 0x0000000688030000)
 tenured generation   total 24924K, used 23677K [0x0000000704d50000, 0x00000007065a7000, 0x0000000800000000)
   the space 24924K,  94% used [0x0000000704d50000, 0x000000070646f5d0, 0x000000070646f600, 0x00000007065a7000)
 Metaspace       used 20464K, committed 20736K, reserved 1114112K
`, (203 + 23677) << 10, (11264 + 24924) << 10},
	{"Serial 25", `DefNew     total 12032K, used 2K [0x0000000687400000, 0x0000000688100000, 0x0000000704d50000)
 eden space 10752K,   0% used [0x0000000687400000, 0x0000000687400a50, 0x0000000687e80000)
Tenured    total 26484K, used 25156K [0x0000000704d50000, 0x000000070672d000, 0x0000000800000000)
 the  space 26484K,  94% used [0x0000000704d50000, 0x00000007065e1310, 0x000000070672d000)
`, (2 + 25156) << 10, (12032 + 26484) << 10},
	{"Parallel 21", ` PSYoungGen      total 10752K, used 2K [0x0000000782700000, 0x0000000783480000, 0x0000000800000000)
  eden space 9216K, 0% used [0x0000000782700000,0x0000000782700a50,0x0000000783000000)
 ParOldGen       total 26624K, used 23654K [0x0000000687400000, 0x0000000688e00000, 0x0000000782700000)
  object space 26624K, 88% used [0x0000000687400000,0x0000000688b19b98,0x0000000688e00000)
`, (2 + 23654) << 10, (10752 + 26624) << 10},
	{"ZGC 21", ` ZHeap           used 40M, capacity 40M, max capacity 6028M
 Metaspace       used 20464K, committed 20736K, reserved 1114112K
`, 40 << 20, 40 << 20},
	{"ZGC 25", `ZHeap            used 36M, capacity 140M, max capacity 6028M
 Cache           104M (5)
  size classes   2M (3), 16M (1), 64M (1)
`, 36 << 20, 140 << 20},
	{"Shenandoah 21", `Shenandoah Heap
 6028M max, 6028M soft max, 18432K committed, 18382K used
 3014 x 2048K regions
Status: not cancelled
Reserved region:
 - [0x0000000687400000, 0x0000000800000000)
`, 18382 << 10, 18432 << 10},
	{"nothing known", "what is this\n", 0, 0},
}

func TestHeapSizes(t *testing.T) {
	for _, tc := range heapInfos {
		used, committed := heapSizes(tc.out)
		if used != tc.used || committed != tc.committed {
			t.Errorf("%s: used %d committed %d, want %d and %d", tc.name, used, committed, tc.used, tc.committed)
		}
	}
}

func TestParseVMFlags(t *testing.T) {
	out := "129:\n-XX:CICompilerCount=2 -XX:MaxHeapSize=268435456 -XX:-UsePerfData -XX:+UseZGC -XX:ZUncommitDelay=1 \n"
	flags := parseVMFlags(out)
	want := []string{"-XX:CICompilerCount=2", "-XX:MaxHeapSize=268435456", "-XX:-UsePerfData", "-XX:+UseZGC", "-XX:ZUncommitDelay=1"}
	if diff := cmp.Diff(flags, want); diff != "" {
		t.Errorf("parseVMFlags (-got +want):\n%s", diff)
	}
	j := &contract.JVMInfo{GC: contract.GCOf(flags), Flags: flags}
	if j.GC != contract.GCZ {
		t.Errorf("GC %q", j.GC)
	}
	if q := settleQuietFor(j); q != settleQuietZGC {
		t.Errorf("settleQuietFor(ZGC, delay 1 s) = %v, want %v", q, settleQuietZGC)
	}
	j.Flags = append(j.Flags, "-XX:ZUncommitDelay=5")
	if q := settleQuietFor(j); q != 6*time.Second {
		t.Errorf("settleQuietFor(ZGC, delay 5 s) = %v, want 6s", q)
	}
	if q := settleQuietFor(&contract.JVMInfo{GC: contract.GCG1}); q != settleQuiet {
		t.Errorf("settleQuietFor(G1) = %v", q)
	}
}

// rssSeq returns the values in turn, then the last one forever.
func rssSeq(vals ...int64) func() (int64, error) {
	i := 0
	return func() (int64, error) {
		v := vals[min(i, len(vals)-1)]
		i++
		return v, nil
	}
}

func TestSettle(t *testing.T) {
	ctx := context.Background()
	// Flat from the start: the minimum.
	d, err := settle(ctx, rssSeq(1000), 300*time.Millisecond, 200*time.Millisecond, 5*time.Second)
	if err != nil || d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("flat RSS: settled after %v (%v), want about the minimum 300ms", d, err)
	}
	// Falling for ~10 polls (1 s), then flat: the quiet time after that.
	vals := []int64{400000}
	for i := 1; i <= 10; i++ {
		vals = append(vals, 400000-int64(i)*10000)
	}
	d, err = settle(ctx, rssSeq(vals...), 100*time.Millisecond, 500*time.Millisecond, 10*time.Second)
	if err != nil || d < 1400*time.Millisecond {
		t.Errorf("falling RSS: settled after %v (%v), want >= 1.5 s (1 s falling + 0.5 s quiet)", d, err)
	}
	// Small wiggles (under settleDropKiB) do not count as falling.
	d, err = settle(ctx, rssSeq(1000, 990, 1000, 980, 995), 100*time.Millisecond, 300*time.Millisecond, 10*time.Second)
	if err != nil || d > 2*time.Second {
		t.Errorf("wiggling RSS: settled after %v (%v)", d, err)
	}
	// Never settling: the maximum.
	n := int64(1 << 30)
	falling := func() (int64, error) { n -= 1024; return n, nil }
	d, err = settle(ctx, falling, 100*time.Millisecond, 300*time.Millisecond, 700*time.Millisecond)
	if err != nil || d < 700*time.Millisecond || d > 3*time.Second {
		t.Errorf("always falling: settled after %v (%v), want the 700ms bound", d, err)
	}
	// A cancelled context ends the wait with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := settle(cctx, rssSeq(1), time.Second, time.Second, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// An unreadable RSS at the start is an error.
	if _, err := settle(ctx, func() (int64, error) { return 0, errors.New("gone") }, 0, 0, time.Second); err == nil {
		t.Error("settle with an unreadable RSS succeeded")
	}
}
