package warmup

import (
	"strings"
	"testing"
	"time"
)

// Outputs of a JDK 17 (17.0.15, Debian), as jcmd prints them.
const (
	codecacheOut = `17887:
CodeHeap 'non-profiled nmethods': size=120036Kb used=1011Kb max_used=1011Kb free=119024Kb
 bounds [0x00007ffa98ec7000, 0x00007ffa99137000, 0x00007ffaa0400000]
CodeHeap 'profiled nmethods': size=120032Kb used=2012Kb max_used=2012Kb free=118019Kb
 bounds [0x00007ffa91400000, 0x00007ffa91670000, 0x00007ffa98938000]
CodeHeap 'non-nmethods': size=5692Kb used=1032Kb max_used=1048Kb free=4659Kb
 bounds [0x00007ffa98938000, 0x00007ffa98ba8000, 0x00007ffa98ec7000]
 total_blobs=1297 nmethods=817 adapters=195
 compilation: enabled
              stopped_count=0, restarted_count=0
 full_count=0
`
	queueOut = `24444:
Current compiles: 
C2 CompilerThread0   342 %     4       java.util.TimSort::countRunAndMakeAscending @ 92 (128 bytes)

C1 compile queue:
Empty

C2 compile queue:
 298       4       java.util.Comparators$NaturalOrderComparator::compare (13 bytes)
 297 %     4       java.util.AbstractCollection::toString @ 32 (89 bytes)
`
	emptyQueueOut = `24444:
Current compiles: 

C1 compile queue:
Empty

C2 compile queue:
Empty
`
	loaderStatsOut = `17887:
ClassLoader         Parent              CLD*               Classes   ChunkSz   BlockSz  Type
0x00007ffa2707af08  0x00007ffa2707d1e8  0x00007ffaa8106ed0       1       768       272  jdk.internal.loader.ClassLoaders$AppClassLoader
0x0000000000000000  0x0000000000000000  0x00007ffaa80d5c50     484    557056      9481  <boot class loader>
Total = 3                                                      485    557824      9753  
ChunkSz: Total size of all allocated metaspace chunks
`
)

func TestParseJIT(t *testing.T) {
	m, used, ok := ParseCodeCache(codecacheOut)
	if !ok || m != 817 || used != 1011+2012+1032 {
		t.Errorf("ParseCodeCache = %d, %d, %v; want 817, 4055, true", m, used, ok)
	}
	if _, _, ok := ParseCodeCache("Unknown diagnostic command"); ok {
		t.Error("ParseCodeCache of no code cache: ok")
	}
	if n := ParseCompileQueue(queueOut); n != 3 {
		t.Errorf("ParseCompileQueue = %d, want 3 (one compiling, two queued)", n)
	}
	if n := ParseCompileQueue(emptyQueueOut); n != 0 {
		t.Errorf("ParseCompileQueue of empty queues = %d", n)
	}
	if n := ParseClassCount(loaderStatsOut); n != 485 {
		t.Errorf("ParseClassCount = %d, want 485", n)
	}
}

func jitRound(lat float64, methods int) Round {
	return Round{Latency: time.Duration(lat * float64(time.Millisecond)), JIT: JIT{Methods: methods}, HasJIT: true}
}

func TestJudge(t *testing.T) {
	var s Steadiness
	for _, tc := range []struct {
		name   string
		rounds []Round
		steady bool
		words  []string
	}{
		{"too few rounds", []Round{jitRound(1, 800), jitRound(1, 800), jitRound(1, 800)}, false, []string{"JIT quiet", "latency flat"}},
		{"settled", []Round{jitRound(5, 100), jitRound(2, 600), jitRound(1, 800), jitRound(1.02, 801), jitRound(0.99, 802)}, true,
			[]string{"JIT quiet (802 compiled methods, 2 added or flushed over 2 rounds, queue empty)", "latency flat (0.99 ms over the last 2 rounds, best before 1.00 ms)"}},
		{"JIT still compiling", []Round{jitRound(5, 100), jitRound(2, 600), jitRound(1, 800), jitRound(1, 840), jitRound(1, 880)}, false,
			[]string{"JIT busy (880 compiled methods, 80 added or flushed over 2 rounds"}},
		{"latency still falling", []Round{jitRound(5, 100), jitRound(2, 800), jitRound(1.5, 800), jitRound(1.2, 800), jitRound(1.0, 800)}, false,
			[]string{"latency falling (1.00 ms over the last 2 rounds, best before 1.50 ms)"}},
		{"noise above the best is flat", []Round{jitRound(5, 100), jitRound(1, 800), jitRound(1, 800), jitRound(1.4, 800), jitRound(1.3, 800)}, true, []string{"latency flat"}},
		{"no JIT figures: latency decides", []Round{{Latency: 5e6}, {Latency: 1e6}, {Latency: 1e6}, {Latency: 1e6}}, true, []string{"JIT not readable", "latency flat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := s.Judge(tc.rounds)
			if v.Steady != tc.steady {
				t.Errorf("steady %v, want %v: %s", v.Steady, tc.steady, v)
			}
			for _, w := range tc.words {
				if !strings.Contains(v.String(), w) {
					t.Errorf("verdict %q lacks %q", v, w)
				}
			}
		})
	}
	flushed := []Round{jitRound(5, 100), jitRound(1, 800), jitRound(1, 800), jitRound(1, 800), jitRound(1, 300)}
	if v := s.Judge(flushed); v.Steady || !strings.Contains(v.JIT, "JIT busy (300 compiled methods, 500 added or flushed") {
		t.Errorf("500 methods flushed in a round: %s, steady %v", v, v.Steady)
	}
	busy := []Round{jitRound(5, 100), jitRound(1, 800), jitRound(1, 800), jitRound(1, 800), jitRound(1, 800)}
	busy[4].JIT.Queued = 2
	if v := s.Judge(busy); v.Steady || !strings.Contains(v.JIT, "2 queued") {
		t.Errorf("a non-empty compile queue: %s, steady %v", v, v.Steady)
	}
}

func TestListStatsAdd(t *testing.T) {
	var s ListStats
	s.Add(ListStats{Stats: Stats{Requests: 2, Errors: 1, First: 5, Last: 2, Median: 3}, Endpoints: []Endpoint{
		{Key: "GET /", Status: map[int]int{200: 1}}, {Key: "GET /x", Status: map[int]int{404: 1}, Errors: 1}}})
	s.Add(ListStats{Stats: Stats{Requests: 2, First: 4, Last: 1, Median: 1}, Endpoints: []Endpoint{
		{Key: "GET /", Status: map[int]int{200: 1}}, {Key: "GET /x", Status: map[int]int{200: 1}}}})
	if s.Requests != 4 || s.Errors != 1 || s.First != 5 || s.Last != 1 || s.Median != 1 {
		t.Errorf("stats %+v", s.Stats)
	}
	if len(s.Endpoints) != 2 || s.Endpoints[0].String() != "GET /: 200 x2" || s.Endpoints[1].String() != "GET /x: 200 x1, 404 x1" {
		t.Errorf("endpoints %v", s.Endpoints)
	}
}
