package password

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// fastArgon2 keeps tests quick; only tests that say so use the defaults.
var fastArgon2 = Argon2Params{Memory: 256, Time: 2, Threads: 1}

// fastConfig fills cfg's zero algorithm and parameters with fast ones.
func fastConfig(cfg Config) Config {
	if cfg.Algorithm == "" {
		cfg.Algorithm = Argon2id
	}
	if cfg.Algorithm == Argon2id && cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = fastArgon2
	}
	if cfg.Algorithm == Bcrypt && cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.MinCost
	}
	return cfg
}

func newTestHasher(t testing.TB, cfg Config) *Hasher {
	t.Helper()
	cfg = fastConfig(cfg)
	h, err := New(cfg, AllowWeakParameters())
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return h
}

// Known answers from the Argon2 reference implementation
// (github.com/P-H-C/phc-winner-argon2, src/test.c, Argon2id, version 0x13):
// password "password", salt "somesalt", 32-byte tag. RFC 9106 §5.3's
// vector uses a secret and associated data, which x/crypto's IDKey cannot
// take, so it cannot serve here.
func TestArgon2KnownAnswers(t *testing.T) {
	tests := []struct {
		name    string
		params  Argon2Params
		hex     string
		encoded string
		slow    bool
	}{
		{
			name:    "m=256,t=2,p=1",
			params:  Argon2Params{Memory: 256, Time: 2, Threads: 1},
			hex:     "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
			encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		},
		{
			name:    "m=256,t=2,p=2",
			params:  Argon2Params{Memory: 256, Time: 2, Threads: 2},
			hex:     "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037",
			encoded: "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
		},
		{
			name:    "m=65536,t=2,p=1",
			params:  Argon2Params{Memory: 65536, Time: 2, Threads: 1},
			hex:     "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7",
			encoded: "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
			slow:    true,
		},
	}
	h := newTestHasher(t, Config{Argon2: fastArgon2})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.slow && testing.Short() {
				t.Skip("64 MiB vector skipped in -short mode")
			}
			if got := hex.EncodeToString(argon2Key("password", []byte("somesalt"), tt.params, 32)); got != tt.hex {
				t.Fatalf("key = %s, want %s", got, tt.hex)
			}
			a, err := parseArgon2(tt.encoded)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if a.params != tt.params || string(a.salt) != "somesalt" || hex.EncodeToString(a.key) != tt.hex {
				t.Fatalf("parsed %+v salt %q key %x", a.params, a.salt, a.key)
			}
			if got := a.String(); got != tt.encoded {
				t.Fatalf("re-encoded = %s, want %s", got, tt.encoded)
			}
			ok, _, err := h.Verify(context.Background(), "password", tt.encoded)
			if err != nil || !ok {
				t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, _, err = h.Verify(context.Background(), "differentpassword", tt.encoded)
			if err != nil || ok {
				t.Fatalf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

// With a fixed random source, Hash is deterministic and writes exactly the
// PHC string built by hand from x/crypto's IDKey.
func TestArgon2HashFixedSalt(t *testing.T) {
	salt := bytes.Repeat([]byte{0x5a}, 16)
	// New reads 32 bytes for the dummy password and 16 for its salt; then
	// Hash reads 16 for the salt.
	src := bytes.NewReader(append(make([]byte, 48), salt...))
	h, err := New(Config{Argon2: fastArgon2}, AllowWeakParameters(), WithRand(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte("correct horse battery staple"), salt, 2, 256, 1, 32)
	want := "$argon2id$v=19$m=256,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		prefix string
	}{
		{"argon2id", Config{Algorithm: Argon2id}, "$argon2id$v=19$m=256,t=2,p=1$"},
		{"bcrypt", Config{Algorithm: Bcrypt}, "$bcrypt-sha384$2a$04$"},
	}
	passwords := []string{
		"correct horse battery staple",
		"😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰",
		strings.Repeat("ü", 128),
		"with\x00nul and more",
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHasher(t, tt.cfg)
			for _, pw := range passwords {
				enc, err := h.Hash(ctx, pw)
				if err != nil {
					t.Fatalf("Hash: %v", err)
				}
				if !strings.HasPrefix(enc, tt.prefix) {
					t.Fatalf("Hash = %q, want prefix %q", enc, tt.prefix)
				}
				enc2, err := h.Hash(ctx, pw)
				if err != nil {
					t.Fatal(err)
				}
				if enc == enc2 {
					t.Fatalf("two hashes of one password are equal: salt not random")
				}
				ok, rehash, err := h.Verify(ctx, pw, enc)
				if err != nil || !ok || rehash {
					t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
				}
				for _, wrong := range []string{pw + "x", pw[:len(pw)-1], strings.ToUpper(pw), ""} {
					if wrong == pw {
						continue
					}
					ok, rehash, err := h.Verify(ctx, wrong, enc)
					if err != nil || ok || rehash {
						t.Fatalf("Verify(%q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
					}
				}
			}
		})
	}
}

// The real defaults: OWASP argon2id, 16-byte salt, 32-byte key.
func TestDefaultArgon2(t *testing.T) {
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(enc, prefix) {
		t.Fatalf("Hash = %q, want prefix %q", enc, prefix)
	}
	a, err := parseArgon2(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.salt) != 16 || len(a.key) != 32 {
		t.Fatalf("salt %d bytes, key %d bytes; want 16, 32", len(a.salt), len(a.key))
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	if !strings.HasPrefix(h.dummy, prefix) {
		t.Fatalf("dummy hash %q does not have the configured parameters", h.dummy)
	}
	if err := h.VerifyDummy(ctx, "anything"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
	if s := h.Stats(); s.Slots < 1 || s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestDefaultBcrypt(t *testing.T) {
	if testing.Short() {
		t.Skip("bcrypt cost 12 skipped in -short mode")
	}
	h, err := New(Config{Algorithm: Bcrypt})
	if err != nil {
		t.Fatal(err)
	}
	// New made the dummy with the configured cost; Hash writes the same form.
	if h.cost != 12 || !strings.HasPrefix(h.dummy, "$bcrypt-sha384$2a$12$") || len(h.dummy) != len("$bcrypt-sha384$")+59 {
		t.Fatalf("cost %d, dummy %q", h.cost, h.dummy)
	}
}

// Hashes made elsewhere as plain bcrypt verify as they are, and are flagged
// for rehash.
func TestBcryptImported(t *testing.T) {
	const pw = "imported password 123"
	raw, err := bcrypt.GenerateFromPassword([]byte(pw), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "$2a$10$") {
		t.Fatalf("x/crypto wrote %q, want $2a$10$ prefix", raw)
	}
	h := newTestHasher(t, Config{Algorithm: Argon2id})
	for _, version := range []string{"2a", "2b", "2y"} {
		enc := "$" + version + string(raw[3:])
		t.Run(version, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), pw, enc)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(context.Background(), pw+"!", enc)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

// bcrypt only reads 72 bytes. Nothing here may match on a prefix.
func TestBcryptNoTruncation(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("0123456789", 10) // 100 bytes
	h := newTestHasher(t, Config{Algorithm: Bcrypt})

	t.Run("plain", func(t *testing.T) {
		raw, err := bcrypt.GenerateFromPassword([]byte(long[:72]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		// The hazard is real: x/crypto alone accepts the longer password.
		if err := bcrypt.CompareHashAndPassword(raw, []byte(long)); err != nil {
			t.Fatalf("x/crypto no longer ignores bytes after 72 (%v): revisit this package", err)
		}
		for _, v := range []string{"2a", "2b", "2y"} {
			enc := "$" + v + string(raw[3:])
			ok, _, err := h.Verify(ctx, long, enc)
			if err != nil || ok {
				t.Fatalf("%s: Verify(100 bytes, first 72 match) = %v, %v; want false, nil", v, ok, err)
			}
			ok, _, err = h.Verify(ctx, long[:72], enc)
			if err != nil || !ok {
				t.Fatalf("%s: Verify(exact 72 bytes) = %v, %v; want true, nil", v, ok, err)
			}
		}
	})

	t.Run("prehashed", func(t *testing.T) {
		enc, err := h.Hash(ctx, long)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			pw   string
			want bool
		}{
			{long, true},
			{long[:72], false},
			{long + "x", false},
			{long[:99] + "X", false},
		}
		for _, tt := range tests {
			ok, _, err := h.Verify(ctx, tt.pw, enc)
			if err != nil || ok != tt.want {
				t.Fatalf("Verify(%d bytes) = %v, %v; want %v, nil", len(tt.pw), ok, err, tt.want)
			}
		}
	})
}

func TestRehash(t *testing.T) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	hashWith := func(cfg Config) string {
		t.Helper()
		enc, err := newTestHasher(t, cfg).Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	plain, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// A 16-byte key and an 8-byte salt: valid, but not what Hash writes.
	shortKey := (&argon2Hash{params: fastArgon2, salt: bytes.Repeat([]byte{1}, 16), key: argon2Key(pw, bytes.Repeat([]byte{1}, 16), fastArgon2, 16)}).String()
	shortSalt := (&argon2Hash{params: fastArgon2, salt: []byte("8bytes!!"), key: argon2Key(pw, []byte("8bytes!!"), fastArgon2, 32)}).String()

	argonCfg := Config{Algorithm: Argon2id, Argon2: fastArgon2}
	bcryptCfg := Config{Algorithm: Bcrypt, BcryptCost: 5}
	tests := []struct {
		name       string
		configured Config
		stored     string
		want       bool
	}{
		{"argon2 same params", argonCfg, hashWith(argonCfg), false},
		{"argon2 other m", argonCfg, hashWith(Config{Argon2: Argon2Params{Memory: 512, Time: 2, Threads: 1}}), true},
		{"argon2 other t", argonCfg, hashWith(Config{Argon2: Argon2Params{Memory: 256, Time: 1, Threads: 1}}), true},
		{"argon2 other p", argonCfg, hashWith(Config{Argon2: Argon2Params{Memory: 256, Time: 2, Threads: 2}}), true},
		{"argon2 other key length", argonCfg, shortKey, true},
		{"argon2 short salt", argonCfg, shortSalt, true},
		{"bcrypt when argon2 configured", argonCfg, hashWith(bcryptCfg), true},
		{"plain bcrypt when argon2 configured", argonCfg, string(plain), true},
		{"bcrypt same cost", bcryptCfg, hashWith(bcryptCfg), false},
		{"bcrypt other cost", bcryptCfg, hashWith(Config{Algorithm: Bcrypt, BcryptCost: 4}), true},
		{"plain bcrypt when bcrypt configured", Config{Algorithm: Bcrypt, BcryptCost: 4}, string(plain), true},
		{"argon2 when bcrypt configured", bcryptCfg, hashWith(argonCfg), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHasher(t, tt.configured)
			ok, rehash, err := h.Verify(ctx, pw, tt.stored)
			if err != nil || !ok {
				t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
			}
			if rehash != tt.want {
				t.Fatalf("rehash = %v, want %v", rehash, tt.want)
			}
		})
	}
}

func TestMalformedHashes(t *testing.T) {
	const pw = "password"
	good := "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	goodBcrypt, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	gb := string(goodBcrypt)
	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{"empty", "", ErrUnknownAlgorithm},
		{"plain text", "password", ErrUnknownAlgorithm},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1), ErrUnknownAlgorithm},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1), ErrUnknownAlgorithm},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", ErrUnknownAlgorithm},
		{"bcrypt 2x", "$2x" + gb[3:], ErrUnknownAlgorithm},
		{"bcrypt 2", "$2$" + gb[4:], ErrUnknownAlgorithm},
		{"upper case prefix", strings.ToUpper(good[:10]) + good[10:], ErrUnknownAlgorithm},
		{"argon2 no version", "$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", ErrMalformedHash},
		{"argon2 v=16", strings.Replace(good, "v=19", "v=16", 1), ErrMalformedHash},
		{"argon2 params reordered", strings.Replace(good, "m=256,t=2,p=1", "t=2,m=256,p=1", 1), ErrMalformedHash},
		{"argon2 extra param", strings.Replace(good, "p=1", "p=1,keyid=abc", 1), ErrMalformedHash},
		{"argon2 leading zero", strings.Replace(good, "m=256", "m=0256", 1), ErrMalformedHash},
		{"argon2 sign", strings.Replace(good, "t=2", "t=+2", 1), ErrMalformedHash},
		{"argon2 t=0", strings.Replace(good, "t=2", "t=0", 1), ErrMalformedHash},
		{"argon2 t=11", strings.Replace(good, "t=2", "t=11", 1), ErrMalformedHash},
		{"argon2 p=0", strings.Replace(good, "p=1", "p=0", 1), ErrMalformedHash},
		{"argon2 p=17", strings.Replace(good, "m=256,t=2,p=1", "m=256,t=2,p=17", 1), ErrMalformedHash},
		{"argon2 m over 1 GiB", strings.Replace(good, "m=256", "m=1048577", 1), ErrMalformedHash},
		{"argon2 m overflow", strings.Replace(good, "m=256", "m=99999999999", 1), ErrMalformedHash},
		{"argon2 m below 8p", strings.Replace(good, "m=256,t=2,p=1", "m=15,t=2,p=2", 1), ErrMalformedHash},
		{"argon2 padded salt", strings.Replace(good, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1), ErrMalformedHash},
		{"argon2 non-canonical salt", strings.Replace(good, "c29tZXNhbHQ", "c29tZXNhbHR", 1), ErrMalformedHash},
		{"argon2 url-safe key", strings.Replace(good, "/", "_", -1), ErrMalformedHash},
		{"argon2 short salt", strings.Replace(good, "c29tZXNhbHQ", "c29tZQ", 1), ErrMalformedHash},
		{"argon2 huge salt", strings.Replace(good, "c29tZXNhbHQ", strings.Repeat("A", 100000), 1), ErrMalformedHash},
		{"argon2 empty key", good[:strings.LastIndexByte(good, '$')+1], ErrMalformedHash},
		{"argon2 short key", good[:strings.LastIndexByte(good, '$')+1] + "nf65EOgLrQMR/uIP", ErrMalformedHash},
		{"argon2 trailing $", good + "$", ErrMalformedHash},
		{"argon2 trailing space", good + " ", ErrMalformedHash},
		{"argon2 newline in key", good[:len(good)-5] + "\n" + good[len(good)-5:], ErrMalformedHash},
		{"argon2 CR in salt", strings.Replace(good, "c29tZXNh", "c29t\rZXNh", 1), ErrMalformedHash},
		{"bcrypt short", gb[:59], ErrMalformedHash},
		{"bcrypt long", gb + "A", ErrMalformedHash},
		{"bcrypt bad char", gb[:40] + "*" + gb[41:], ErrMalformedHash},
		{"bcrypt cost 3", gb[:4] + "03" + gb[6:], ErrMalformedHash},
		{"bcrypt cost 16", gb[:4] + "16" + gb[6:], ErrMalformedHash},
		{"bcrypt cost 31", gb[:4] + "31" + gb[6:], ErrMalformedHash},
		{"bcrypt cost letters", gb[:4] + "1a" + gb[6:], ErrMalformedHash},
		{"prehashed plain inside", "$bcrypt-sha384$" + gb, ErrMalformedHash},
		{"prehashed 2x", "$bcrypt-sha384$2x" + gb[3:], ErrMalformedHash},
		{"prehashed empty", "$bcrypt-sha384$", ErrMalformedHash},
	}
	h := newTestHasher(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), pw, tt.encoded)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if ok || rehash {
				t.Fatalf("ok, rehash = %v, %v; want false, false", ok, rehash)
			}
		})
	}
	// The valid strings the cases were made from do verify.
	for _, enc := range []string{good, gb} {
		if ok, _, err := h.Verify(context.Background(), pw, enc); err != nil || !ok {
			t.Fatalf("Verify(%q) = %v, %v; want true, nil", enc, ok, err)
		}
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		weak bool
		ok   bool
	}{
		{"defaults", Config{}, false, true},
		{"ASVS argon2", Config{Argon2: Argon2Params{Memory: 47104, Time: 1, Threads: 1}}, false, true},
		{"OWASP m=7168,t=5", Config{Argon2: Argon2Params{Memory: 7168, Time: 5, Threads: 1}}, false, true},
		{"argon2 below OWASP", Config{Argon2: Argon2Params{Memory: 19455, Time: 2, Threads: 1}}, false, false},
		{"argon2 m=47103,t=1", Config{Argon2: Argon2Params{Memory: 47103, Time: 1, Threads: 1}}, false, false},
		{"argon2 weak allowed", Config{Argon2: fastArgon2}, true, true},
		{"argon2 t=0", Config{Argon2: Argon2Params{Memory: 19456, Time: 0, Threads: 1}}, true, false},
		{"argon2 p=0", Config{Argon2: Argon2Params{Memory: 19456, Time: 2, Threads: 0}}, true, false},
		{"argon2 p=17", Config{Argon2: Argon2Params{Memory: 19456, Time: 2, Threads: 17}}, true, false},
		{"argon2 t=11", Config{Argon2: Argon2Params{Memory: 19456, Time: 11, Threads: 1}}, true, false},
		{"argon2 m over 1 GiB", Config{Argon2: Argon2Params{Memory: 1<<20 + 1, Time: 1, Threads: 1}}, true, false},
		{"bcrypt cost 9", Config{Algorithm: Bcrypt, BcryptCost: 9}, false, false},
		{"bcrypt cost 10", Config{Algorithm: Bcrypt, BcryptCost: 10}, false, true},
		{"bcrypt cost 16", Config{Algorithm: Bcrypt, BcryptCost: 16}, true, false},
		{"bcrypt cost 4 weak", Config{Algorithm: Bcrypt, BcryptCost: 4}, true, true},
		{"bcrypt cost 3 weak", Config{Algorithm: Bcrypt, BcryptCost: 3}, true, false},
		{"unknown algorithm", Config{Algorithm: "scrypt"}, false, false},
		{"negative slots", Config{Slots: -1}, false, false},
		{"negative wait", Config{MaxWait: -1}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.ok && tt.cfg.Algorithm == Bcrypt && tt.cfg.BcryptCost >= 10 {
				t.Skip("slow")
			}
			var opts []Option
			if tt.weak {
				opts = append(opts, AllowWeakParameters())
			}
			_, err := New(tt.cfg, opts...)
			if (err == nil) != tt.ok {
				t.Fatalf("New: err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

func TestPasswordTooLongForHasher(t *testing.T) {
	h := newTestHasher(t, Config{})
	ctx := context.Background()
	huge := strings.Repeat("a", MaxBytes+1)
	if _, err := h.Hash(ctx, huge); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Hash(1025 bytes): err = %v, want ErrTooLong", err)
	}
	enc, err := h.Hash(ctx, huge[:MaxBytes])
	if err != nil {
		t.Fatalf("Hash(1024 bytes): %v", err)
	}
	if ok, _, err := h.Verify(ctx, huge, enc); ok || err != nil {
		t.Fatalf("Verify(1025 bytes) = %v, %v; want false, nil", ok, err)
	}
	if ok, _, err := h.Verify(ctx, huge[:MaxBytes], enc); !ok || err != nil {
		t.Fatalf("Verify(1024 bytes) = %v, %v; want true, nil", ok, err)
	}
}

// FuzzParse: parsing never panics, and whatever argon2id string parses is
// canonical: it re-encodes to itself.
func FuzzParse(f *testing.F) {
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Add("$bcrypt-sha384$2a$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	h := &Hasher{}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := h.parse(s)
		if err != nil {
			return
		}
		if a, ok := v.(*argon2Hash); ok && a.String() != s {
			t.Fatalf("parsed %q re-encodes as %q", s, a.String())
		}
	})
}
