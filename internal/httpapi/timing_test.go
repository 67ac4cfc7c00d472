package httpapi_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/password"
)

var (
	timingRun    = flag.Bool("timing", false, "run TestTiming_KnownVsUnknownEmail (slow: real hash parameters)")
	timingStrict = flag.Bool("timing.strict", false, "with -timing: fail when P(known slower) is outside [0.35, 0.65]")
	timingN      = flag.Int("timing.n", 100, "with -timing: samples per path and route")
)

// TestTiming_KnownVsUnknownEmail measures, for each route that takes an
// email, how often a request for an existing account answers slower than
// one for an unknown email: P(known > unknown) over every pair of samples
// (the Mann-Whitney U statistic over n×n, ties counting half). 0.5 means
// the two timing distributions cannot be told apart. Samples of the two
// paths are interleaved in random order so drift hits both alike. It runs
// only with -timing:
//
//	go test ./internal/httpapi -run TestTiming -timing -v [-timing.strict]
func TestTiming_KnownVsUnknownEmail(t *testing.T) {
	if !*timingRun {
		t.Skip("timing measurement: run with -timing")
	}
	n := *timingN
	loose := func(c *auth.Config) {
		big := auth.Limit{N: 1 << 30, Per: time.Minute}
		c.LoginPerIP, c.LoginPerEmail, c.EmailPerEmail, c.EmailPerIP, c.SignupPerIP, c.TokenPerIP = big, big, big, big, big, big
		c.LockoutThreshold = 100
	}
	argon := password.Config{Algorithm: password.Argon2id}
	bcryptCfg := password.Config{Algorithm: password.Bcrypt, BcryptCost: 10}
	ctx := context.Background()

	type route struct {
		name    string
		cfg     password.Config
		setup   func(e *env) // makes known@example.com
		known   func(e *env, i int)
		unknown func(e *env, i int)
	}
	wrong := strongPassword + "?"
	post := func(path, email string) func(e *env, i int) {
		return func(e *env, i int) { e.post(path, map[string]string{"email": email}) }
	}
	setHash := func(e *env, hash string) {
		u, err := e.db.UserByEmail(ctx, "known@example.com")
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.db.SetPasswordHash(ctx, u.ID, hash); err != nil {
			e.t.Fatal(err)
		}
	}
	login := func(email func(i int) string) func(e *env, i int) {
		return func(e *env, i int) {
			if i%50 == 49 { // stay under the lockout threshold
				e.clock.Advance(e.cfg.LockoutDuration + time.Minute)
			}
			e.post("/v1/session", map[string]string{"email": email(i), "password": wrong})
		}
	}
	known := func(int) string { return "known@example.com" }
	unknownEmail := func(prefix string) func(int) string {
		return func(i int) string { return fmt.Sprintf("%s-%d@example.com", prefix, i) }
	}
	signupKnown := func(e *env) { e.signup("known@example.com") }
	routes := []route{
		{"POST /v1/password/forgot", argon, signupKnown, post("/v1/password/forgot", "known@example.com"),
			func(e *env, i int) { post("/v1/password/forgot", unknownEmail("nobody")(i))(e, i) }},
		{"POST /v1/email/verify/resend", argon,
			func(e *env) {
				e.post("/v1/signup", map[string]string{"email": "known@example.com", "password": strongPassword})
			},
			post("/v1/email/verify/resend", "known@example.com"),
			func(e *env, i int) { post("/v1/email/verify/resend", unknownEmail("nobody")(i))(e, i) }},
		{"POST /v1/signup", argon, signupKnown,
			func(e *env, i int) {
				e.post("/v1/signup", map[string]string{"email": "known@example.com", "password": strongPassword})
			},
			func(e *env, i int) {
				e.post("/v1/signup", map[string]string{"email": unknownEmail("new")(i), "password": strongPassword})
			}},
		{"POST /v1/session (argon2id)", argon, signupKnown, login(known), login(unknownEmail("ghost"))},
		{"POST /v1/session (argon2id configured, bcrypt account)", argon, func(e *env) {
			e.signup("known@example.com")
			b, err := bcrypt.GenerateFromPassword([]byte(strongPassword), 10)
			if err != nil {
				e.t.Fatal(err)
			}
			setHash(e, string(b))
		}, login(known), login(unknownEmail("ghost"))},
		{"POST /v1/session (bcrypt configured, argon2id account)", bcryptCfg, func(e *env) {
			e.signup("known@example.com")
			ph, err := password.New(argon)
			if err != nil {
				e.t.Fatal(err)
			}
			defer ph.Close()
			h, err := ph.Hash(ctx, strongPassword)
			if err != nil {
				e.t.Fatal(err)
			}
			setHash(e, h)
		}, login(known), login(unknownEmail("ghost"))},
	}
	var outside []string
	for _, r := range routes {
		e := newEnv(t, withHasher(r.cfg), withConfig(loose), withQuietLogs())
		r.setup(e)
		// Warm up: one of each, so the first sample pays no cold path.
		r.known(e, -1)
		r.unknown(e, -1)
		var k, u []time.Duration
		for i := range n {
			order := []bool{true, false}
			if rand.IntN(2) == 0 {
				order = []bool{false, true}
			}
			for _, isKnown := range order {
				start := time.Now()
				if isKnown {
					r.known(e, i)
					k = append(k, time.Since(start))
				} else {
					r.unknown(e, i)
					u = append(u, time.Since(start))
				}
			}
		}
		var greater float64
		for _, a := range k {
			for _, b := range u {
				switch {
				case a > b:
					greater++
				case a == b:
					greater += 0.5
				}
			}
		}
		p := greater / float64(len(k)*len(u))
		line := fmt.Sprintf("%-56s P(known slower)=%.3f  median known=%v unknown=%v  (n=%d each)", r.name, p, median(k), median(u), n)
		fmt.Println(line)
		if p < 0.35 || p > 0.65 {
			outside = append(outside, line)
		}
	}
	if *timingStrict && len(outside) > 0 {
		t.Fatalf("routes outside [0.35, 0.65]:\n%v", outside)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(10 * time.Microsecond)
}
