package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Rotation timing. A key becomes current only after it has been published
// as next for MinRotationInterval, and a previous key is retired only at
// the rotation after the one that made it previous, at least as long after:
//
//   - every instance publishes a new next key within MaxPollInterval, and a
//     resource server that fetched the JWKS just before keeps it at most
//     JWKSMaxAge (the Cache-Control max-age of the JWKS), so it has the key
//     before the first token signed with it;
//   - an instance may sign with the old current key until it polls, and
//     such a token lives the access-token lifetime plus Leeway, so it
//     expires before its key is retired.
//
// Rotation therefore signs nobody out.
const (
	// JWKSMaxAge is the max-age of /.well-known/jwks.json.
	JWKSMaxAge = 5 * time.Minute
	// MaxPollInterval bounds how long an instance takes to see a change of
	// the keys made elsewhere (a rotation by the CLI or another instance).
	MaxPollInterval = time.Minute
	// DefaultPollInterval is how often a Manager re-reads the keys.
	DefaultPollInterval = 30 * time.Second
)

// MinRotationInterval is the shortest time a key spends as next (and as
// previous) for access tokens that live at most accessTTL.
func MinRotationInterval(accessTTL time.Duration) time.Duration {
	return max(JWKSMaxAge, accessTTL+Leeway) + 2*MaxPollInterval
}

// ErrTooSoon is returned by Rotate when the next key has not been published
// for MinRotationInterval yet.
var ErrTooSoon = errors.New("the next key has not been published long enough")

// ErrKeysChanged is returned when another instance (or the CLI) changed the
// keys between reading and writing them; nothing was changed.
var ErrKeysChanged = errors.New("the signing keys changed meanwhile (another instance or command rotated them); nothing was changed, try again")

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Store  auth.SigningKeyStore
	Sealer auth.Sealer
	// Alg is the algorithm of new keys: EdDSA (default) or ES256. Keys of
	// the other one keep working until they are retired.
	Alg string
	// Rotation is the automatic rotation period; 0 turns it off.
	Rotation time.Duration
	// AccessTTL is the access-token lifetime (MinRotationInterval).
	AccessTTL time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Manager keeps managed signing keys in the store, sealed under the
// key-encryption key, and an Issuer that uses them. Every instance of a
// deployment has one and loads the keys from the store; Run keeps them in
// step with changes made elsewhere and rotates them on schedule.
type Manager struct {
	cfg    ManagerConfig
	issuer *Issuer
	// loaded names the key set the issuer has (kid:state,…).
	loaded string
}

// NewManager returns a Manager. Its Issuer is nil until Load.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("signing key manager: a store and a sealer are needed")
	}
	if cfg.Alg == "" {
		cfg.Alg = EdDSA
	}
	if cfg.Alg != EdDSA && cfg.Alg != ES256 {
		return nil, fmt.Errorf("signing key manager: unsupported algorithm %q (EdDSA or ES256)", cfg.Alg)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg}, nil
}

// Load reads the keys (making the first two, current and next, in an empty
// store) and returns an Issuer that signs with them. Call it once.
func (m *Manager) Load(ctx context.Context, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	keys, name, err := m.read(ctx)
	if err != nil {
		return nil, err
	}
	if m.issuer, err = NewManaged(keys, issuer, audience, ttl); err != nil {
		return nil, err
	}
	m.loaded = name
	return m.issuer, nil
}

// Refresh re-reads the keys and gives the Issuer the new set if it
// changed. On error the Issuer keeps the set it has.
func (m *Manager) Refresh(ctx context.Context) error {
	keys, name, err := m.read(ctx)
	if err != nil {
		return err
	}
	if name == m.loaded {
		return nil
	}
	if err := m.issuer.SetKeys(keys); err != nil {
		return err
	}
	m.cfg.Log.Info("signing keys loaded", "keys", name)
	m.loaded = name
	return nil
}

// read returns the opened keys that are not retired, first creating the
// initial pair in an empty store.
func (m *Manager) read(ctx context.Context) ([]*Key, string, error) {
	for range 3 {
		stored, err := m.cfg.Store.SigningKeys(ctx, false)
		if err != nil {
			return nil, "", err
		}
		if len(stored) == 0 {
			_, _, err := m.create(ctx)
			if errors.Is(err, auth.ErrConflict) {
				continue // another instance made them first: read those
			}
			if err != nil {
				return nil, "", err
			}
			continue
		}
		keys := make([]*Key, len(stored))
		names := make([]string, len(stored))
		for i, sk := range stored {
			if keys[i], err = OpenKey(m.cfg.Sealer, sk); err != nil {
				return nil, "", err
			}
			names[i] = sk.KID + ":" + sk.State
			if err := m.reseal(ctx, keys[i]); err != nil {
				return nil, "", err
			}
		}
		return keys, strings.Join(names, ","), nil
	}
	return nil, "", errors.New("signing keys: the store keeps changing; giving up")
}

// reseal seals k again under the current key-encryption key if it was
// sealed under a previous one (BULWARK_KEY_ENCRYPTION_KEYS_PREVIOUS), so
// that the old key-encryption key can be dropped once every instance has
// loaded the keys once.
func (m *Manager) reseal(ctx context.Context, k *Key) error {
	r, ok := m.cfg.Sealer.(interface{ NeedsReseal([]byte) bool })
	if !ok || !r.NeedsReseal(k.Stored.Sealed) {
		return nil
	}
	fresh, err := k.Seal(m.cfg.Sealer, k.State, k.Stored.CreatedAt)
	if err != nil {
		return err
	}
	if err := m.cfg.Store.ResealSigningKey(ctx, k.KID, k.Stored.Sealed, fresh.Sealed); err != nil {
		return err
	}
	m.cfg.Log.Info("signing key sealed under the current key-encryption key", "kid", k.KID)
	return nil
}

// create stores a current and a next key in an empty store and returns
// their kids. The unique index on state makes it fail with
// auth.ErrConflict if another instance stored keys first.
func (m *Manager) create(ctx context.Context) (string, string, error) {
	now := m.cfg.Now()
	current, err := m.generate(auth.KeyCurrent, now)
	if err != nil {
		return "", "", err
	}
	current.ActivatedAt = now.UTC()
	next, err := m.generate(auth.KeyNext, now)
	if err != nil {
		return "", "", err
	}
	if err := m.cfg.Store.ChangeSigningKeys(ctx, nil, []auth.SigningKey{current, next}, now); err != nil {
		return "", "", err
	}
	m.cfg.Log.Info("signing keys created", "current", current.KID, "next", next.KID, "alg", m.cfg.Alg)
	return current.KID, next.KID, nil
}

func (m *Manager) generate(state string, now time.Time) (auth.SigningKey, error) {
	k, err := GenerateKey(m.cfg.Alg)
	if err != nil {
		return auth.SigningKey{}, err
	}
	return k.Seal(m.cfg.Sealer, state, now)
}

// byState indexes keys that are not retired by state.
func byState(keys []auth.SigningKey) map[string]auth.SigningKey {
	m := map[string]auth.SigningKey{}
	for _, k := range keys {
		if k.State != auth.KeyRetired {
			m[k.State] = k
		}
	}
	return m
}

// Rotation is what Rotate did.
type Rotation struct {
	// Current is the kid of the new current key (empty when there was no
	// next key to promote, or when Created).
	Current string
	// Next is the kid of the new next key.
	Next string
	// Retired is the kid of the key retired, if any.
	Retired string
	// Created reports that the store was empty and the first keys were made.
	Created bool
}

// Rotate moves every key one state on: previous → retired, current →
// previous, next → current, and a new next key (of the configured
// algorithm). Unless force, it refuses with ErrTooSoon while the next key
// is younger than MinRotationInterval. ErrKeysChanged: another instance
// changed the keys first. The Issuer, if loaded, picks the change up at
// its next Refresh.
func (m *Manager) Rotate(ctx context.Context, force bool) (Rotation, error) {
	stored, err := m.cfg.Store.SigningKeys(ctx, false)
	if err != nil {
		return Rotation{}, err
	}
	if len(stored) == 0 {
		current, next, err := m.create(ctx)
		if err != nil {
			return Rotation{}, conflict(err)
		}
		return Rotation{Created: true, Current: current, Next: next}, nil
	}
	return m.rotate(ctx, stored, force)
}

func (m *Manager) rotate(ctx context.Context, stored []auth.SigningKey, force bool) (Rotation, error) {
	now := m.cfg.Now()
	keys := byState(stored)
	next, hasNext := keys[auth.KeyNext]
	current, hasCurrent := keys[auth.KeyCurrent]
	var changes []auth.SigningKeyChange
	var r Rotation
	if hasNext {
		if age := now.Sub(next.CreatedAt); !force && age < MinRotationInterval(m.cfg.AccessTTL) {
			return Rotation{}, fmt.Errorf("%w: %s of %s (use --force to rotate anyway: resource servers that cached the JWKS may refuse new tokens, and tokens signed by the retired key are refused)",
				ErrTooSoon, age.Truncate(time.Second), MinRotationInterval(m.cfg.AccessTTL))
		}
		if prev, ok := keys[auth.KeyPrevious]; ok && hasCurrent {
			changes = append(changes, auth.SigningKeyChange{KID: prev.KID, From: auth.KeyPrevious, To: auth.KeyRetired})
			r.Retired = prev.KID
		}
		if hasCurrent {
			changes = append(changes, auth.SigningKeyChange{KID: current.KID, From: auth.KeyCurrent, To: auth.KeyPrevious})
		}
		changes = append(changes, auth.SigningKeyChange{KID: next.KID, From: auth.KeyNext, To: auth.KeyCurrent})
		r.Current = next.KID
	}
	fresh, err := m.generate(auth.KeyNext, now)
	if err != nil {
		return Rotation{}, err
	}
	r.Next = fresh.KID
	if err := m.cfg.Store.ChangeSigningKeys(ctx, changes, []auth.SigningKey{fresh}, now); err != nil {
		return Rotation{}, conflict(err)
	}
	m.cfg.Log.Info("signing keys rotated", "current", r.Current, "next", r.Next, "retired", r.Retired)
	return r, nil
}

func conflict(err error) error {
	if errors.Is(err, auth.ErrConflict) {
		return fmt.Errorf("%w: %w", ErrKeysChanged, err)
	}
	return err
}

// Retire retires the key kid at once: its tokens are refused from the next
// Refresh of each instance, and its private key is erased. Retiring the
// next key makes a new next key; retiring the current key (for a key
// thought compromised) makes the next key current at once and a new next
// key. A retired or unknown kid is auth.ErrNotFound.
func (m *Manager) Retire(ctx context.Context, kid string) (Rotation, error) {
	stored, err := m.cfg.Store.SigningKeys(ctx, false)
	if err != nil {
		return Rotation{}, err
	}
	keys := byState(stored)
	now := m.cfg.Now()
	var target auth.SigningKey
	for _, k := range stored {
		if k.KID == kid {
			target = k
		}
	}
	r := Rotation{Retired: kid}
	changes := []auth.SigningKeyChange{{KID: kid, From: target.State, To: auth.KeyRetired}}
	var add []auth.SigningKey
	switch target.State {
	case auth.KeyPrevious:
	case auth.KeyCurrent:
		next, ok := keys[auth.KeyNext]
		if !ok {
			return Rotation{}, errors.New("retire the current key: there is no next key to take its place; run `bulwark keys rotate` first")
		}
		changes = append(changes, auth.SigningKeyChange{KID: next.KID, From: auth.KeyNext, To: auth.KeyCurrent})
		r.Current = next.KID
		fallthrough
	case auth.KeyNext:
		fresh, err := m.generate(auth.KeyNext, now)
		if err != nil {
			return Rotation{}, err
		}
		add, r.Next = []auth.SigningKey{fresh}, fresh.KID
	default:
		return Rotation{}, fmt.Errorf("retire key %q: no such key that is not retired: %w", kid, auth.ErrNotFound)
	}
	if err := m.cfg.Store.ChangeSigningKeys(ctx, changes, add, now); err != nil {
		return Rotation{}, conflict(err)
	}
	m.cfg.Log.Warn("signing key retired", "kid", kid, "state", target.State, "current", r.Current, "next", r.Next)
	return r, nil
}

// rotateIfDue rotates when automatic rotation is on and the current key has
// been current for the rotation period. Several instances may find it due
// at once: the store's conditional change lets exactly one of them rotate,
// the others get ErrKeysChanged, which is not an error here.
func (m *Manager) rotateIfDue(ctx context.Context) error {
	if m.cfg.Rotation <= 0 {
		return nil
	}
	stored, err := m.cfg.Store.SigningKeys(ctx, false)
	if err != nil {
		return err
	}
	current, ok := byState(stored)[auth.KeyCurrent]
	if !ok || m.cfg.Now().Sub(current.ActivatedAt) < m.cfg.Rotation {
		return nil
	}
	_, err = m.rotate(ctx, stored, false)
	if errors.Is(err, ErrKeysChanged) || errors.Is(err, ErrTooSoon) {
		return nil
	}
	return err
}

// Run rotates the keys on schedule and refreshes the Issuer every poll
// interval until ctx ends, logging (not returning) failures: the Issuer
// keeps the keys it has while the store does not answer.
func (m *Manager) Run(ctx context.Context, poll time.Duration) {
	if poll <= 0 || poll > MaxPollInterval {
		poll = DefaultPollInterval
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.rotateIfDue(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("rotate signing keys", "error", err.Error())
		}
		if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Log.Error("reload signing keys; still using the keys loaded before", "error", err.Error())
		}
	}
}
