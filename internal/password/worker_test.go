package password

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// TestMain lets this test binary be a hash worker process: the worker tests
// start it again with BULWARK_TEST_HASH_WORKER=1.
func TestMain(m *testing.M) {
	if os.Getenv("BULWARK_TEST_HASH_WORKER") == "1" {
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newWorkerHasher returns a Hasher whose hashes run in a child process (this
// test binary), started by StartLowPriority.
func newWorkerHasher(t *testing.T, cfg Config) *Hasher {
	t.Helper()
	return newWorkerHasherParams(t, fastConfig(cfg))
}

// newWorkerHasherParams is newWorkerHasher with cfg's parameters as given.
func newWorkerHasherParams(t testing.TB, cfg Config) *Hasher {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := func() *exec.Cmd {
		c := exec.Command(exe, "-test.run=^$")
		c.Env = []string{"BULWARK_TEST_HASH_WORKER=1"}
		c.Stderr = os.Stderr
		return c
	}
	h, err := New(cfg, AllowWeakParameters(), WithWorker(cmd, StartLowPriority))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// Hashes made in the worker process verify in this one and the other way
// round, for both algorithms; wrong passwords do not match; rehash is
// decided as in-process.
func TestWorkerHashesLikeInProcess(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []Algorithm{Argon2id, Bcrypt} {
		t.Run(string(alg), func(t *testing.T) {
			local := newTestHasher(t, Config{Algorithm: alg})
			remote := newWorkerHasher(t, Config{Algorithm: alg})
			const pw = "correct horse battery staple"
			enc, err := remote.Hash(ctx, pw)
			if err != nil {
				t.Fatal(err)
			}
			if remote.WorkerPID() == 0 || remote.WorkerPID() == os.Getpid() {
				t.Fatalf("WorkerPID = %d: the hash did not run in a child process", remote.WorkerPID())
			}
			for name, h := range map[string]*Hasher{"in-process": local, "worker": remote} {
				if ok, rehash, err := h.Verify(ctx, pw, enc); err != nil || !ok || rehash {
					t.Fatalf("%s Verify of the worker's hash = %v, %v, %v; want true, false, nil", name, ok, rehash, err)
				}
				if ok, _, err := h.Verify(ctx, pw+"x", enc); err != nil || ok {
					t.Fatalf("%s Verify of a wrong password = %v, %v; want false, nil", name, ok, err)
				}
			}
			enc2, err := local.Hash(ctx, pw)
			if err != nil {
				t.Fatal(err)
			}
			if ok, _, err := remote.Verify(ctx, pw, enc2); err != nil || !ok {
				t.Fatalf("worker Verify of an in-process hash = %v, %v", ok, err)
			}
			if err := remote.VerifyDummy(ctx, pw); err != nil {
				t.Fatalf("VerifyDummy: %v", err)
			}
			// Malformed hashes are refused in this process, as before.
			if _, _, err := remote.Verify(ctx, pw, "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA"); !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("malformed hash: err = %v, want ErrMalformedHash", err)
			}
		})
	}
}

// The worker process runs at a lower CPU priority than this one (Linux:
// nice is per thread; every thread of the child must have it).
func TestWorkerRunsAtLowerPriority(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the worker's priority is lowered on Linux only")
	}
	h := newWorkerHasher(t, Config{})
	if _, err := h.Hash(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	pid := h.WorkerPID()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 2 {
		t.Fatalf("worker has %d threads; expected a Go runtime's several", len(tasks))
	}
	// Relative to wherever this process started (the tests may run under
	// nice): the worker is workerNiceStep nicer, capped at 19.
	self := niceOf(t, "/proc/self/stat")
	want := min(self+10, 19)
	for _, task := range tasks {
		if n := niceOf(t, "/proc/"+strconv.Itoa(pid)+"/task/"+task.Name()+"/stat"); n != want {
			t.Fatalf("worker thread %s has nice %d, want %d (this process: %d)", task.Name(), n, want, self)
		}
	}
	// And this process's threads were not lowered.
	if self >= 19 {
		return
	}
	if n := niceOf(t, "/proc/self/stat"); n == want {
		t.Fatalf("this process's main thread has nice %d: the parent's priority changed", n)
	}
}

// niceOf reads the nice field (19th) of a /proc stat file.
func niceOf(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// The command name (field 2) is in parentheses and may hold spaces.
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, err := strconv.Atoi(fields[16]) // field 19 is the 17th after the name
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return n
}

// A worker that dies fails the calls in flight with auth.ErrBusy (503,
// never a verdict about the password), and a later call starts a new one.
func TestWorkerRestartsAfterCrash(t *testing.T) {
	ctx := context.Background()
	h := newWorkerHasher(t, Config{Slots: 2})
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	first := h.WorkerPID()
	p, err := os.FindProcess(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead worker to be noticed", func() bool { return h.WorkerPID() == 0 })
	// Within workerRestartEvery of the last start: refused, not restarted
	// in a loop.
	_, _, err = h.Verify(ctx, "pw", enc)
	if err != nil && !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("Verify right after the crash: err = %v, want nil or auth.ErrBusy", err)
	}
	var ok bool
	waitFor(t, "a new worker to answer", func() bool {
		ok, _, err = h.Verify(ctx, "pw", enc)
		return err == nil
	})
	if !ok {
		t.Fatal("the restarted worker does not match the right password")
	}
	if pid := h.WorkerPID(); pid == 0 || pid == first {
		t.Fatalf("WorkerPID after restart = %d (first was %d)", pid, first)
	}
}

// Calls in flight when the worker dies get auth.ErrBusy, none blocks.
func TestWorkerCrashFailsCallsInFlight(t *testing.T) {
	ctx := context.Background()
	// Slow hashes, so that the kill lands while they run.
	h := newWorkerHasher(t, Config{Slots: 4, Argon2: Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 1}})
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			ok, _, err := h.Verify(ctx, "pw", enc)
			if err == nil && !ok {
				err = errors.New("no match")
			}
			errs <- err
		})
	}
	waitFor(t, "4 hashes in flight", func() bool { return h.Stats().InFlight == 4 })
	p, _ := os.FindProcess(h.WorkerPID())
	_ = p.Kill()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("calls in flight still waiting 30 s after the worker died")
	}
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, auth.ErrBusy) {
			t.Fatalf("call in flight: err = %v, want nil or auth.ErrBusy", err)
		}
	}
}

// Close ends the worker process and refuses later calls.
func TestWorkerClose(t *testing.T) {
	h := newWorkerHasher(t, Config{})
	if _, err := h.Hash(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	pid := h.WorkerPID()
	h.Close()
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); runtime.GOOS == "linux" && err == nil {
		// Close waited for the child: it was reaped, so /proc has no entry.
		t.Fatalf("worker %d still exists after Close", pid)
	}
	if _, err := h.Hash(context.Background(), "x"); !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("Hash after Close: err = %v, want auth.ErrBusy", err)
	}
	h.Close() // idempotent
}
