package password

import "testing"

// The worker's nice value is relative to the server's, so a server that is
// already nice keeps the isolation; it never goes past Linux's 19.
func TestWorkerNiceIsRelative(t *testing.T) {
	for _, c := range []struct{ server, want int }{
		{0, 10}, {5, 15}, {9, 19}, {10, 19}, {19, 19}, {-5, 5},
	} {
		if got := niceBelow(c.server); got != c.want {
			t.Errorf("niceBelow(%d) = %d, want %d", c.server, got, c.want)
		}
	}
}
