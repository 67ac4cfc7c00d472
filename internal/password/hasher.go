package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Algorithm names a password hashing algorithm for new hashes.
type Algorithm string

// The algorithms Hash can write.
const (
	Argon2id Algorithm = "argon2id"
	Bcrypt   Algorithm = "bcrypt"
)

// Errors of Verify for a stored hash it cannot use. Neither is ever a match.
var (
	// ErrUnknownAlgorithm: the stored hash has a prefix this package does
	// not know.
	ErrUnknownAlgorithm = errors.New("password: unknown hash algorithm")
	// ErrMalformedHash: the stored hash has a known prefix but is not of its
	// form, or its parameters are out of bounds.
	ErrMalformedHash = errors.New("password: malformed hash")
)

// ErrTooLong is returned by Hash for a password over MaxBytes, which Policy
// never accepts.
var ErrTooLong = errors.New("password: too long to hash")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformedHash)
}

// Default pool sizes.
const (
	// DefaultMaxWait is how long a caller waits for a slot by default.
	// Our rule allows up to 2 s; 1 s keeps a refused login well
	// inside client timeouts.
	DefaultMaxWait = time.Second
	// DefaultQueuePerSlot sets the default MaxQueue to 8 waiting callers per
	// slot. At the default argon2id parameters a slot serves a verification
	// in a few tens of milliseconds, so 8 callers per slot are served within
	// DefaultMaxWait; a longer queue would mostly hold callers until they
	// time out.
	DefaultQueuePerSlot = 8
)

// Config configures a Hasher. Zero fields take their defaults.
type Config struct {
	// Algorithm for new hashes: Argon2id (default) or Bcrypt. Hashes of
	// either kind always verify.
	Algorithm Algorithm
	// Argon2 parameters, used when Algorithm is Argon2id. Zero value:
	// DefaultArgon2(). They must be at least as strong as one of OWASP's
	// options (m=47104,t=1; m=19456,t=2; m=12288,t=3; m=9216,t=4;
	// m=7168,t=5) and within m ≤ 1 GiB, t ≤ 10, p ≤ 16.
	Argon2 Argon2Params
	// BcryptCost, used when Algorithm is Bcrypt: 10 to 15, default 12.
	BcryptCost int
	// Slots is how many hashes may run at once. Default
	// runtime.GOMAXPROCS(0). Memory held by argon2id is at most
	// Slots × Argon2.Memory KiB.
	Slots int
	// MaxQueue is how many callers may wait for a slot, in each of the two
	// queues (auth.HashPriority callers and the others); others get
	// auth.ErrBusy at once. Default DefaultQueuePerSlot × Slots; negative
	// means no waiting at all.
	MaxQueue int
	// MaxWait is the longest a caller waits for a slot before auth.ErrBusy.
	// Default DefaultMaxWait. A caller whose predicted wait (its place in
	// line times the average hash time, per slot) is over half of MaxWait
	// is refused at once.
	MaxWait time.Duration
}

// Option changes how New builds a Hasher.
type Option func(*options)

type options struct {
	rand        io.Reader
	weak        bool
	workerCmd   func() *exec.Cmd
	workerStart func(*exec.Cmd) error
	meter       Meter
}

// WithRand sets the source of argon2id salts (default crypto/rand.Reader).
// bcrypt always draws its salt from crypto/rand.
func WithRand(r io.Reader) Option { return func(o *options) { o.rand = r } }

// AllowWeakParameters lets New accept argon2id parameters below OWASP's and
// bcrypt costs from 4, so that tests run fast. Never use it from
// configuration.
func AllowWeakParameters() Option { return func(o *options) { o.weak = true } }

// Hasher hashes and verifies passwords on a bounded pool. It implements
// auth.PasswordHasher and is safe for concurrent use.
type Hasher struct {
	alg    Algorithm
	argon2 Argon2Params
	cost   int
	rand   io.Reader
	pool   *pool
	dummy  string  // a hash with the configured parameters, for VerifyDummy
	worker *worker // nil: hashes run in this process
	meter  Meter
	floor  *costFloor // the uniform cost of a verification
}

var _ auth.PasswordHasher = (*Hasher)(nil)

// New validates cfg, fills in defaults and returns a Hasher. It computes one
// hash of a random password (the dummy for VerifyDummy), so it takes as long
// as one Hash and one Verify.
func New(cfg Config, opts ...Option) (*Hasher, error) {
	o := options{rand: rand.Reader, meter: realMeter{}}
	for _, opt := range opts {
		opt(&o)
	}
	h := &Hasher{alg: cfg.Algorithm, argon2: cfg.Argon2, cost: cfg.BcryptCost, rand: o.rand, meter: o.meter}
	if h.alg == "" {
		h.alg = Argon2id
	}
	switch h.alg {
	case Argon2id:
		if h.argon2 == (Argon2Params{}) {
			h.argon2 = DefaultArgon2()
		}
		if err := validateArgon2(h.argon2, o.weak); err != nil {
			return nil, fmt.Errorf("new password hasher: %w", err)
		}
	case Bcrypt:
		if h.cost == 0 {
			h.cost = DefaultBcryptCost
		}
		if err := validateBcryptCost(h.cost, o.weak); err != nil {
			return nil, fmt.Errorf("new password hasher: %w", err)
		}
	default:
		return nil, fmt.Errorf("new password hasher: unknown algorithm %q (want %q or %q)", h.alg, Argon2id, Bcrypt)
	}

	slots := cfg.Slots
	switch {
	case slots == 0:
		slots = runtime.GOMAXPROCS(0)
	case slots < 0:
		return nil, fmt.Errorf("new password hasher: slots %d is negative", slots)
	}
	queue := cfg.MaxQueue
	switch {
	case queue == 0:
		queue = DefaultQueuePerSlot * slots
	case queue < 0:
		queue = 0
	}
	wait := cfg.MaxWait
	switch {
	case wait == 0:
		wait = DefaultMaxWait
	case wait < 0:
		return nil, fmt.Errorf("new password hasher: max wait %v is negative", wait)
	}
	h.pool = newPool(slots, queue, wait)

	secret := make([]byte, 32)
	if _, err := io.ReadFull(h.rand, secret); err != nil {
		return nil, fmt.Errorf("new password hasher: read random: %w", err)
	}
	start := time.Now()
	dummy, err := h.hash(string(secret))
	if err != nil {
		return nil, fmt.Errorf("new password hasher: dummy hash: %w", err)
	}
	h.pool.observe(time.Since(start)) // the first estimate of a hash's cost
	h.dummy = dummy
	dv, err := h.parse(dummy)
	if err != nil {
		return nil, fmt.Errorf("new password hasher: dummy hash: %w", err)
	}
	// Seed the floor with one verification of the dummy: unknown emails
	// pay it from the first login on. Not with the hash above, which pays
	// the first allocation of the memory and would hold every login's
	// padding up for a couple of minutes.
	h.floor = newCostFloor(dv.class())
	vstart := h.meter.Now()
	if _, err := dv.verify(string(secret)); err != nil {
		return nil, fmt.Errorf("new password hasher: dummy verify: %w", err)
	}
	h.floor.observe(h.meter.Now(), dv.class(), h.meter.Now().Sub(vstart))
	if o.workerCmd != nil {
		h.worker = &worker{
			cfg:   Config{Algorithm: h.alg, Argon2: h.argon2, BcryptCost: h.cost, Slots: slots},
			weak:  o.weak,
			cmd:   o.workerCmd,
			start: o.workerStart,
		}
	}
	return h, nil
}

// Close refuses new hashes with auth.ErrBusy, waits for those in flight and
// stops the worker process. It is safe to call more than once.
func (h *Hasher) Close() {
	h.pool.close()
	if h.worker != nil {
		h.worker.close()
	}
}

// WorkerPID is the process id of the running worker process, or 0 (none
// running, or hashes run in this process).
func (h *Hasher) WorkerPID() int {
	if h.worker == nil {
		return 0
	}
	return h.worker.pid()
}

// Stats returns a snapshot of the pool, for metrics.
func (h *Hasher) Stats() Stats { return h.pool.stats() }

// Hash returns a new encoded hash of password with the configured algorithm
// and parameters. It returns ErrTooLong for a password over MaxBytes, and
// auth.ErrBusy or ctx's error when it gets no slot.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxBytes {
		return "", ErrTooLong
	}
	var (
		encoded string
		err     error
	)
	if perr := h.pool.run(ctx, func() {
		if h.worker != nil {
			encoded, err = h.worker.hash(password)
		} else {
			encoded, err = h.hash(password)
		}
	}); perr != nil {
		return "", perr
	}
	return encoded, err
}

// hash computes a new hash without taking a slot.
func (h *Hasher) hash(password string) (string, error) {
	if h.alg == Bcrypt {
		return bcryptHashPassword(password, h.cost)
	}
	salt := make([]byte, argon2SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("argon2id: read salt: %w", err)
	}
	a := &argon2Hash{params: h.argon2, salt: salt, key: argon2Key(password, salt, h.argon2, argon2KeyLen)}
	return a.String(), nil
}

// Verify reports whether password matches encoded and, when it does, whether
// encoded should be replaced by a fresh Hash (see the package doc). rehash is
// always false when ok is false. A malformed or unknown encoded hash is an
// error (ErrMalformedHash, ErrUnknownAlgorithm), never a match. A password
// over MaxBytes matches nothing and takes no slot. Verify returns auth.ErrBusy
// or ctx's error when it gets no slot.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	v, err := h.parse(encoded)
	if err != nil {
		return false, false, err
	}
	if len(password) > MaxBytes {
		return false, false, nil
	}
	var cost time.Duration
	if perr := h.pool.run(ctx, func() {
		start := h.meter.Now()
		if h.worker != nil {
			ok, err = h.worker.verify(password, encoded)
		} else {
			ok, err = v.verify(password)
		}
		cost = h.meter.Now().Sub(start)
	}); perr != nil {
		return false, false, perr
	}
	// Pad up to the floor after giving the slot back: the wait costs no
	// CPU and admission control still sees only the real hashing time.
	if pad := h.floor.observe(h.meter.Now(), v.class(), cost) - cost; pad > 0 {
		h.meter.Sleep(ctx, pad)
	}
	if err != nil || !ok {
		return false, false, err
	}
	return true, v.rehash(h), nil
}

// VerifyDummy verifies password against a hash made at construction with the
// configured parameters and discards the result, so that a login for an
// unknown email costs what a real one does (ASVS 6.3.8).
// It holds a slot like Verify and returns auth.ErrBusy or ctx's error when it
// gets none.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// verifier is a parsed stored hash.
type verifier interface {
	verify(password string) (bool, error)
	rehash(h *Hasher) bool
	class() string // algorithm and parameters: what a verification costs
}

func (h *Hasher) parse(encoded string) (verifier, error) { return parseEncoded(encoded) }

// CheckEncoded reports whether encoded is a stored hash Verify accepts:
// argon2id in PHC form, or bcrypt ($2a$, $2b$, $2y$, and Bulwark's
// pre-hashed form), with parameters within the bounds Verify enforces, so
// that an imported hash can never make a login costlier than those bounds.
// A hash of another algorithm than the configured one is upgraded at the
// user's first successful login.
func CheckEncoded(encoded string) error {
	_, err := parseEncoded(encoded)
	return err
}

func parseEncoded(encoded string) (verifier, error) {
	switch {
	case strings.HasPrefix(encoded, argon2Prefix):
		return parseArgon2(encoded)
	case strings.HasPrefix(encoded, prehashPrefix),
		strings.HasPrefix(encoded, "$2a$"),
		strings.HasPrefix(encoded, "$2b$"),
		strings.HasPrefix(encoded, "$2y$"):
		return parseBcrypt(encoded)
	default:
		return nil, ErrUnknownAlgorithm
	}
}

func (a *argon2Hash) verify(password string) (bool, error) {
	key := argon2Key(password, a.salt, a.params, uint32(len(a.key)))
	return subtle.ConstantTimeCompare(key, a.key) == 1, nil
}

func (a *argon2Hash) rehash(h *Hasher) bool {
	return h.alg != Argon2id || a.params != h.argon2 ||
		len(a.key) != argon2KeyLen || len(a.salt) < argon2SaltLen
}

func (b *bcryptHash) rehash(h *Hasher) bool {
	return h.alg != Bcrypt || !b.prehashed || b.cost != h.cost
}
