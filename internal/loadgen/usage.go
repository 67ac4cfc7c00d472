package loadgen

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"time"
)

// RSS returns the resident set size of this process in bytes, read from
// /proc/self/status (VmRSS); ok is false where there is no such file.
func RSS() (bytes int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	return parseVmRSS(b)
}

// parseVmRSS reads the "VmRSS:   1234 kB" line of a /proc status file.
func parseVmRSS(status []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// CPUTime returns the user and system CPU time this process has used;
// ok is false where getrusage is not available.
func CPUTime() (user, system time.Duration, ok bool) { return cpuTime() }
