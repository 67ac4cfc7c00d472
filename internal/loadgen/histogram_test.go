package loadgen

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	var next uint64
	for i := range nBuckets {
		low, width := bucketRange(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		if got := bucketOf(low); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", low, got, i)
		}
		if got := bucketOf(low + width - 1); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", low+width-1, got, i)
		}
		if low >= 2*subCount && width*subCount > low {
			t.Fatalf("bucket %d: width %d is more than 1/%d of %d", i, width, subCount, low)
		}
		next = low + width
	}
	if next != maxValue+1 {
		t.Fatalf("buckets end at %d, want %d", next, uint64(maxValue)+1)
	}
	if got := bucketOf(1 << 62); got != nBuckets-1 {
		t.Fatalf("bucketOf(huge) = %d, want the last bucket %d", got, nBuckets-1)
	}
}

func TestQuantilesOfKnownSamples(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		// Below 256 ns every value has its own bucket: exact nearest rank.
		{"1..100ns p50", seq(1, 100, 1), 0.50, 50},
		{"1..100ns p95", seq(1, 100, 1), 0.95, 95},
		{"1..100ns p99", seq(1, 100, 1), 0.99, 99},
		{"1..100ns p0", seq(1, 100, 1), 0, 1},
		{"1..100ns max", seq(1, 100, 1), 1, 100},
		{"one sample", []time.Duration{7 * time.Millisecond}, 0.99, 7 * time.Millisecond},
		{"all equal", slices.Repeat([]time.Duration{3 * time.Millisecond}, 1000), 0.5, 3 * time.Millisecond},
		{"skewed p50", append(slices.Repeat([]time.Duration{100}, 99), time.Second), 0.50, 100},
		{"skewed p99", append(slices.Repeat([]time.Duration{100}, 99), time.Second), 0.99, 100},
		{"skewed p999", append(slices.Repeat([]time.Duration{100}, 99), time.Second), 0.999, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			for _, s := range tt.samples {
				h.Record(s)
			}
			if got := h.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestQuantilesWithinBucketPrecision(t *testing.T) {
	// 1 ms to 1 s in 1 ms steps, shuffled: the nearest-rank p is p·1000 ms.
	samples := seq(time.Millisecond, time.Second, time.Millisecond)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	h := NewHistogram()
	for _, s := range samples {
		h.Record(s)
	}
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		want := time.Duration(q*1000) * time.Millisecond
		got := h.Quantile(q)
		if diff := (got - want).Abs(); float64(diff) > float64(want)/(2*subCount) {
			t.Errorf("Quantile(%v) = %v, want %v within %.2f%%", q, got, want, 100.0/(2*subCount))
		}
	}
	s := h.Summary()
	if s.Count != 1000 || s.Min != time.Millisecond || s.Max != time.Second {
		t.Errorf("count, min, max = %d, %v, %v, want 1000, 1ms, 1s", s.Count, s.Min, s.Max)
	}
	if s.Mean != 500500*time.Microsecond {
		t.Errorf("mean = %v, want 500.5ms", s.Mean)
	}
}

func TestHistogramEmptyMergeAndConcurrentRecord(t *testing.T) {
	h := NewHistogram()
	if s := h.Summary(); s != (Summary{}) {
		t.Errorf("empty summary = %+v, want zero", s)
	}
	h.Record(-time.Second) // counts as zero
	if h.Min() != 0 || h.Count() != 1 {
		t.Errorf("negative: min %v count %d, want 0 and 1", h.Min(), h.Count())
	}

	a, b := NewHistogram(), NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	b.Record(time.Hour)
	a.Merge(b)
	if a.Count() != 8001 || a.Max() != time.Hour || a.Min() != 0 {
		t.Errorf("merged count %d max %v min %v, want 8001, 1h, 0", a.Count(), a.Max(), a.Min())
	}
	if got, want := a.Quantile(0.5), 4000*time.Microsecond; (got - want).Abs() > want/100 {
		t.Errorf("merged p50 = %v, want about %v", got, want)
	}
}

func seq(from, to, step time.Duration) []time.Duration {
	var out []time.Duration
	for d := from; d <= to; d += step {
		out = append(out, d)
	}
	return out
}
