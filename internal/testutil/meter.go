package testutil

import (
	"context"
	"sync"
	"time"
)

// VirtualMeter is a clock for code that measures and pads durations (a
// password.Meter): it reads the real clock plus every Sleep it was asked for,
// without sleeping. A caller's charged time is then its real work plus its
// padding, and a test takes no longer for the padding.
type VirtualMeter struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the real time plus the padding asked for so far.
func (m *VirtualMeter) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Now().Add(m.offset)
}

// Sleep adds d to the padding and returns at once.
func (m *VirtualMeter) Sleep(_ context.Context, d time.Duration) {
	m.mu.Lock()
	m.offset += d
	m.mu.Unlock()
}
