package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, like HdrHistogram: values below 2·subCount
// nanoseconds have a bucket each; above, every power of two is split into
// subCount equal buckets. A bucket is at most 1/subCount of its lower bound
// wide, so a reported quantile (the bucket's midpoint) is within 1/(2·subCount)
// ≈ 0.4 % of a recorded value. Values from maxValue up share the last bucket;
// Max stays exact.
const (
	subBits  = 7
	subCount = 1 << subBits // 128
	maxExp   = 41           // 2^41 ns ≈ 36 min
	maxValue = 1<<maxExp - 1
	nBuckets = (maxExp-subBits-1)*subCount + 2*subCount
)

// Histogram records durations in a fixed amount of memory (about 36 KiB)
// whatever their number. It is safe for concurrent use; Record takes no lock.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; wraps after 584 years of latency
	min    atomic.Int64  // math.MaxInt64 when empty
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the index of the bucket holding v nanoseconds.
func bucketOf(v uint64) int {
	if v > maxValue {
		v = maxValue
	}
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // ≥ 1
	return shift*subCount + int(v>>shift)
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (low, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	shift := i/subCount - 1
	return uint64(i-shift*subCount) << shift, 1 << shift
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.total.Add(1)
	h.sum.Add(uint64(v))
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	if v := o.min.Load(); v < h.min.Load() {
		h.min.Store(v)
	}
	if v := o.max.Load(); v > h.max.Load() {
		h.max.Store(v)
	}
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Min returns the smallest recorded duration, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Max returns the largest recorded duration, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average recorded duration; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the nearest-rank q-quantile (0 ≤ q ≤ 1): the smallest
// recorded value v such that at least q of all values are ≤ v, to within
// the bucket precision, and never outside [Min, Max]. Quantile(1) is Max
// exactly; an empty histogram gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	// The epsilon keeps float rounding from pushing an exact rank (0.07·100
	// is 7.000000000000001) to the next one.
	rank := uint64(max(math.Ceil(q*float64(n)-1e-6), 1))
	switch rank {
	case 1:
		return h.Min()
	case n:
		return h.Max()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			low, width := bucketRange(i)
			v := time.Duration(low + (width-1)/2)
			return min(max(v, h.Min()), h.Max())
		}
	}
	return h.Max() // counts raced ahead of total: only while recording
}

// Summary is the usual digest of a histogram.
type Summary struct {
	Count uint64        `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summary returns the count, min, mean, p50, p95, p99, p99.9 and max.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.Count(), Min: h.Min(), Mean: h.Mean(),
		P50: h.Quantile(0.50), P95: h.Quantile(0.95), P99: h.Quantile(0.99), P999: h.Quantile(0.999),
		Max: h.Max(),
	}
}
