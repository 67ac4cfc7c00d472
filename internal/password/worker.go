package password

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// A worker process computes the hashes of a Hasher made with WithWorker:
// the server hands each hash or verification to a child process over a
// pipe and waits for the answer. Under a login flood, hashing then cannot
// take the CPU, the Go scheduler or the garbage collector of the process
// that answers every other request:
//
//   - CPU: the child runs at a lower priority (10 nice steps below the server on Linux), so when
//     requests and hashes compete for the cores, the kernel runs the
//     requests first; when nothing else runs, the child gets every core and
//     login throughput is unchanged.
//   - Scheduler: an argon2id computation holds a P for ~25 ms and Go
//     preempts it only every 10 ms, so in one process each /v1/me waits
//     behind it; the child has Ps of its own.
//   - Garbage: argon2id allocates its memory (19 MiB at the default
//     parameters) on every call, which at a few dozen hashes a second
//     drives a garbage collection every few hashes, and a stop-the-world
//     that waits for a low-priority thread stalls every request. The child
//     collects its own garbage.
//
// The parent keeps the pool (admission, queue, Retry-After) and parses and
// checks every stored hash itself; the child only computes. Passwords cross
// a pipe between two processes of the same user, in memory, never on disk.
// If the child dies, the calls in flight and the calls until it is back get
// auth.ErrBusy (503, never an answer about the password), and the next call
// starts a new child.

// workerRequest is one call to the worker process. The first message on a
// connection is the Config the child builds its Hasher with (ID 0, Op
// opConfig).
type workerRequest struct {
	ID       uint64
	Op       byte
	Password string
	Encoded  string // the stored hash, for opVerify
	Config   Config // for opConfig
	Weak     bool   // for opConfig: AllowWeakParameters (tests only)
	Nice     int    // for opConfig: the nice value the child gives itself
}

type workerReply struct {
	ID      uint64
	OK      bool
	Encoded string // the new hash, for opHash
	Err     string
}

const (
	opConfig byte = iota + 1
	opHash
	opVerify
)

// workerRestartEvery is the least time between two starts of the child:
// a binary that cannot start must not be forked once per login.
const workerRestartEvery = time.Second

// ServeWorker is the worker process's side: it reads the Config, then
// requests from r, computes them on a Hasher of that Config (Slots of them
// at once) and writes the replies to w, until r ends. It is what
// `bulwark hash-worker` runs.
func ServeWorker(ctx context.Context, r io.Reader, w io.Writer) error {
	dec := gob.NewDecoder(bufio.NewReader(r))
	var first workerRequest
	if err := dec.Decode(&first); err != nil {
		return fmt.Errorf("hash worker: read configuration: %w", err)
	}
	if first.Op != opConfig {
		return errors.New("hash worker: the first message is not the configuration")
	}
	lowerGroupPriority(first.Nice)
	cfg := first.Config
	// One P per slot, and one more for the goroutines that read requests
	// and write replies: with only the slots' Ps, a request that arrives
	// while every P runs argon2id waits for a hash to end or for the
	// scheduler's 10 ms preemption (measured: verification throughput 25 %
	// under the in-process one; with the extra P, about 10 %).
	if cfg.Slots > 0 {
		runtime.GOMAXPROCS(cfg.Slots + 1)
	}
	// The parent admits and queues; here every request it sends runs as
	// soon as a slot is free.
	cfg.MaxQueue, cfg.MaxWait = 1<<20, time.Hour
	var opts []Option
	if first.Weak {
		opts = append(opts, AllowWeakParameters())
	}
	h, err := New(cfg, opts...)
	if err != nil {
		return fmt.Errorf("hash worker: %w", err)
	}
	bw := bufio.NewWriter(w)
	enc := gob.NewEncoder(bw)
	var mu sync.Mutex
	reply := func(rep workerReply) error {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(rep); err != nil {
			return err
		}
		return bw.Flush()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var req workerRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the parent closed the pipe: its Hasher closed or it died
			}
			return fmt.Errorf("hash worker: read request: %w", err)
		}
		wg.Go(func() {
			rep := workerReply{ID: req.ID}
			var err error
			switch req.Op {
			case opHash:
				rep.Encoded, err = h.Hash(ctx, req.Password)
			case opVerify:
				rep.OK, _, err = h.Verify(ctx, req.Password, req.Encoded)
			default:
				err = fmt.Errorf("unknown operation %d", req.Op)
			}
			if err != nil {
				rep.Err = err.Error()
			}
			_ = reply(rep) // a write error means the parent is gone; the read loop ends too
		})
	}
}

// WithWorker makes New hand every hash to a child process that cmd starts
// (a fresh *exec.Cmd each time, as the child is restarted when it dies)
// and that runs ServeWorker on its standard input and output. start, when
// not nil, starts it (StartLowPriority lowers its CPU priority); nil is
// cmd.Start.
func WithWorker(cmd func() *exec.Cmd, start func(*exec.Cmd) error) Option {
	return func(o *options) { o.workerCmd, o.workerStart = cmd, start }
}

// worker is the parent's side of the worker process.
type worker struct {
	cfg   Config // sent to every child
	weak  bool
	cmd   func() *exec.Cmd
	start func(*exec.Cmd) error

	mu       sync.Mutex
	conn     *workerConn // nil: no child running
	lastTry  time.Time
	closed   bool
	starts   atomic.Uint64
	nextID   atomic.Uint64
	children sync.WaitGroup
}

// workerConn is one child process.
type workerConn struct {
	proc    *exec.Cmd
	stdin   io.WriteCloser
	enc     *gob.Encoder
	bw      *bufio.Writer
	wmu     sync.Mutex // serialises writes
	mu      sync.Mutex
	pending map[uint64]chan workerReply
	dead    bool
}

var errWorkerGone = fmt.Errorf("hash worker process not running: %w", auth.ErrBusy)

// conn returns the running child, starting one if none runs and the last
// start was long enough ago.
func (w *worker) connect() (*workerConn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("hasher closed: %w", auth.ErrBusy)
	}
	if w.conn != nil {
		return w.conn, nil
	}
	if time.Since(w.lastTry) < workerRestartEvery {
		return nil, errWorkerGone
	}
	w.lastTry = time.Now()
	c, err := w.spawn()
	if err != nil {
		return nil, fmt.Errorf("start hash worker process: %v: %w", err, auth.ErrBusy)
	}
	w.conn = c
	return c, nil
}

func (w *worker) spawn() (*workerConn, error) {
	proc := w.cmd()
	stdin, err := proc.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := proc.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, err
	}
	start := w.start
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := start(proc); err != nil {
		stdin.Close()
		stdout.Close()
		return nil, err
	}
	w.starts.Add(1)
	c := &workerConn{proc: proc, stdin: stdin, bw: bufio.NewWriter(stdin), pending: map[uint64]chan workerReply{}}
	c.enc = gob.NewEncoder(c.bw)
	if err := c.send(workerRequest{Op: opConfig, Config: w.cfg, Weak: w.weak, Nice: workerNice()}); err != nil {
		stdin.Close()
		_ = proc.Wait()
		return nil, err
	}
	w.children.Add(1)
	go w.read(c, stdout)
	return c, nil
}

// read delivers the child's replies until its output ends, then fails the
// calls still waiting and forgets the child so that the next call starts
// another.
func (w *worker) read(c *workerConn, stdout io.Reader) {
	defer w.children.Done()
	dec := gob.NewDecoder(bufio.NewReader(stdout))
	for {
		var rep workerReply
		if err := dec.Decode(&rep); err != nil {
			break
		}
		c.mu.Lock()
		ch := c.pending[rep.ID]
		delete(c.pending, rep.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
	c.stdin.Close()
	_ = c.proc.Wait()
	c.mu.Lock()
	c.dead = true
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	w.mu.Lock()
	if w.conn == c {
		w.conn = nil
	}
	w.mu.Unlock()
}

func (c *workerConn) send(req workerRequest) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.enc.Encode(req); err != nil {
		return err
	}
	return c.bw.Flush()
}

// call sends req to the child and waits for its reply. It does not give up
// on ctx: the caller holds a slot of the pool, which must stay taken while
// the child computes, or the pool would admit more than the child runs.
func (w *worker) call(req workerRequest) (workerReply, error) {
	c, err := w.connect()
	if err != nil {
		return workerReply{}, err
	}
	req.ID = w.nextID.Add(1)
	ch := make(chan workerReply, 1)
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return workerReply{}, errWorkerGone
	}
	c.pending[req.ID] = ch
	c.mu.Unlock()
	if err := c.send(req); err != nil {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
		c.proc.Process.Kill() // a child we cannot write to is of no use; read() cleans up
		return workerReply{}, errWorkerGone
	}
	rep, ok := <-ch
	if !ok {
		return workerReply{}, errWorkerGone
	}
	if rep.Err != "" {
		return rep, fmt.Errorf("hash worker: %s", rep.Err)
	}
	return rep, nil
}

func (w *worker) hash(password string) (string, error) {
	rep, err := w.call(workerRequest{Op: opHash, Password: password})
	return rep.Encoded, err
}

func (w *worker) verify(password, encoded string) (bool, error) {
	rep, err := w.call(workerRequest{Op: opVerify, Password: password, Encoded: encoded})
	return rep.OK, err
}

// pid is the running child's process id, or 0.
func (w *worker) pid() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil || w.conn.proc.Process == nil {
		return 0
	}
	return w.conn.proc.Process.Pid
}

// close stops the child (closing its input ends it) and waits for it.
func (w *worker) close() {
	w.mu.Lock()
	w.closed = true
	c := w.conn
	w.mu.Unlock()
	if c != nil {
		c.wmu.Lock()
		c.stdin.Close()
		c.wmu.Unlock()
	}
	w.children.Wait()
}
