package loadgen

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// RSS returns the resident set size in bytes of this process and of its
// child processes (an in-process server's hash worker), read from
// /proc/<pid>/status (VmRSS); ok is false where there is no such file.
func RSS() (bytes int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	total, ok := parseVmRSS(b)
	if !ok {
		return 0, false
	}
	for _, pid := range children() {
		if b, err := os.ReadFile("/proc/" + pid + "/status"); err == nil {
			if n, ok := parseVmRSS(b); ok {
				total += n
			}
		}
	}
	return total, true
}

// SampleRSS samples RSS every interval until the returned function is
// called; that returns the peak seen, including a last sample (0 where RSS
// is unknown).
func SampleRSS(interval time.Duration) (stop func() int64) {
	var peak atomic.Int64
	sample := func() {
		if rss, ok := RSS(); ok && rss > peak.Load() {
			peak.Store(rss)
		}
	}
	sample()
	stopTicks := every(interval, sample)
	return func() int64 {
		stopTicks()
		sample()
		return peak.Load()
	}
}

// children lists the process ids of this process's children, from the
// parent field of every /proc/<pid>/stat; nil where there is no /proc.
func children() []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if f := statFields(e.Name()); len(f) > 1 && f[1] == self {
			out = append(out, e.Name())
		}
	}
	return out
}

// statFields returns the fields of /proc/<pid>/stat after the command name
// (field 3, the state, is the first), or nil.
func statFields(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// childrenCPU is the user and system CPU time of the running children,
// from /proc/<pid>/stat (utime, stime: fields 14 and 15, in USER_HZ, which
// Linux fixes at 100 a second for user space).
func childrenCPU() (user, system time.Duration) {
	const tick = 10 * time.Millisecond
	for _, pid := range children() {
		f := statFields(pid)
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		s, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 == nil && err2 == nil {
			user += time.Duration(u) * tick
			system += time.Duration(s) * tick
		}
	}
	return user, system
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

// CPUTime returns the user and system CPU time this process and its
// running children have used; ok is false where getrusage is not
// available.
func CPUTime() (user, system time.Duration, ok bool) {
	user, system, ok = cpuTime()
	if ok {
		cu, cs := childrenCPU()
		user, system = user+cu, system+cs
	}
	return user, system, ok
}
