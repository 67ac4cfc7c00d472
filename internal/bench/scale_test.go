package bench

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

func TestParseBenchArgsScale(t *testing.T) {
	o, _, err := parseArgs([]string{"--scenario", "scale", "--scale-users", "2000000", "--scale-database-url", "postgres://u:secret@db/x"})
	if err != nil {
		t.Fatal(err)
	}
	if o.scaleUsers != 2_000_000 || o.scaleDatabaseURL != "postgres://u:secret@db/x" {
		t.Errorf("options %+v", o)
	}
	if o, _, _ := parseArgs([]string{"--scenario", "scale"}); o.scaleUsers != 1_000_000 || o.scaleSample != 50_000 {
		t.Errorf("default --scale-users %d --scale-sample %d", o.scaleUsers, o.scaleSample)
	}
	if o, _, _ := parseArgs(nil); strings.Contains(strings.Join(o.scenarios, ","), "scale") {
		t.Errorf("scale in the default scenarios %v", o.scenarios)
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "scale", "--scale-users", "999"}, "--scale-users"},
		{[]string{"--scenario", "scale", "--scale-users", "2000001"}, "--scale-users"},
		{[]string{"--scenario", "scale", "--scale-sample", "0"}, "--scale-sample"},
		{[]string{"--scenario", "scale", "--scale-database-url", "mysql://u:secret@db/x"}, "postgres://"},
		{[]string{"--scenario", "login", "--scale-database-url", "postgres://db/x"}, "only the scale scenario"},
		{[]string{"--scenario", "scale", "--target", "http://127.0.0.1:1"}, "in-process"},
		{[]string{"--scenario", "scale", "--duration", "10s", "--max-total", "79s"}, "8 runs"},
	}
	for _, tt := range bad {
		_, _, err := parseArgs(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseArgs(%q) = %v, want an error about %s", tt.args, err, tt.want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("parseArgs(%q) = %v: echoes the password", tt.args, err)
		}
	}
}

func TestScaleSeedRows(t *testing.T) {
	cfg := &Config{SessionTTL: 24 * time.Hour, SessionIdleTTL: 30 * time.Minute}
	b := &bencher{runID: "0a1b2c3d"}
	s, err := newScaleSeed(b, "$argon2id$…", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var users []auth.User
	for u := range s.users(50) {
		users = append(users, *u)
	}
	var sessions []auth.Session
	for ss := range s.sessions(50) {
		sessions = append(sessions, *ss)
	}
	seen := map[string]bool{}
	for i := range 50 {
		u, ss := users[i], sessions[i]
		if e, ok := auth.NormalizeEmail(u.Email); !ok || e != u.Email || u.Email != b.email("scale", int64(i)) {
			t.Errorf("user %d email %q", i, u.Email)
		}
		if !regexp.MustCompile(`^usr_[a-z2-7]{26}$`).MatchString(u.ID) || !regexp.MustCompile(`^ses_[a-z2-7]{26}$`).MatchString(ss.ID) {
			t.Errorf("ids %q %q", u.ID, ss.ID)
		}
		if !u.EmailVerified || u.Disabled || !u.TokensValidAfter.IsZero() || u.PasswordHash != "$argon2id$…" {
			t.Errorf("user %+v", u)
		}
		tok := s.token(i)
		if len(tok) != 43 || !bytes.Equal(ss.TokenHash, auth.HashToken(tok)) || ss.UserID != u.ID {
			t.Errorf("session %d: token %q, hash %x, user %s", i, tok, ss.TokenHash, ss.UserID)
		}
		if u.CreatedAt.After(ss.CreatedAt) || ss.LastSeenAt.Before(ss.CreatedAt) || ss.LastSeenAt.After(s.now) ||
			s.now.Sub(ss.LastSeenAt) >= cfg.SessionIdleTTL || !ss.ExpiresAt.Equal(ss.CreatedAt.Add(cfg.SessionTTL)) || ss.ExpiresAt.Before(s.now.Add(12*time.Hour)) {
			t.Errorf("session %d times: user created %v, created %v, last seen %v, expires %v (now %v)", i, u.CreatedAt, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, s.now)
		}
		if seen[u.ID] || seen[ss.ID] || seen[tok] {
			t.Errorf("row %d repeats an id or token", i)
		}
		seen[u.ID], seen[ss.ID], seen[tok] = true, true, true
	}
	// Derived again, the same.
	i := 0
	for u := range s.users(50) {
		if *u != users[i] {
			t.Errorf("user %d differs the second time", i)
		}
		i++
	}
}
