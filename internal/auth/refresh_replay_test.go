package auth_test

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// replayEvents returns the refresh_token_replayed audit lines logged so far.
func replayEvents(t *testing.T, e *env) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if !strings.Contains(l, auth.EventRefreshTokenReplayed) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["event"] == auth.EventRefreshTokenReplayed {
			out = append(out, m)
		}
	}
	return out
}

// TestRefresh_GraceReplaysAreBoundedAndLogged: inside the window the
// replaced token gets the successor RefreshGraceReplays times, each replay
// logged with the family, client address and user agent (never a token);
// the next one is refused with invalid_token and logged, and the family
// stays alive while the window lasts.
func TestRefresh_GraceReplaysAreBoundedAndLogged(t *testing.T) {
	cfg := testConfig()
	cfg.RefreshGraceReplays = 3
	e := newEnv(t, cfg)
	_, p0 := e.tokenUser("gina@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)

	for i := 1; i <= 3; i++ {
		again := e.mustRefresh(p0.RefreshToken)
		if again.RefreshToken.Reveal() != p1.RefreshToken.Reveal() {
			t.Fatalf("replay %d returned a different successor", i)
		}
	}
	got, err := e.refresh(p0.RefreshToken)
	if got != nil {
		t.Fatal("fourth replay inside the window was served")
	}
	wantCode(t, err, auth.CodeInvalidToken)

	evs := replayEvents(t, e)
	if len(evs) != 4 {
		t.Fatalf("%d refresh_token_replayed events, want 4 (3 served, 1 refused)", len(evs))
	}
	for i, ev := range evs {
		if ev["sid"] != p0.FamilyID || ev["ip"] != e.cl.IP || ev["user_agent"] != e.cl.UserAgent {
			t.Errorf("event %d = %v, want sid %q, ip %q, user_agent %q", i, ev, p0.FamilyID, e.cl.IP, e.cl.UserAgent)
		}
		if ev["level"] != "WARN" {
			t.Errorf("event %d level %v, want WARN", i, ev["level"])
		}
	}
	if evs[3]["reason"] != "replay_limit" {
		t.Errorf("refused replay logged with reason %v, want replay_limit", evs[3]["reason"])
	}
	logs := e.logs.String()
	for _, tok := range []auth.Secret{p0.RefreshToken, p1.RefreshToken} {
		if strings.Contains(logs, tok.Reveal()) {
			t.Error("a refresh token is in the log")
		}
	}
	if strings.Contains(logs, `"event":"refresh_token_reused"`) {
		t.Error("a replay inside the window was treated as reuse")
	}
	// The refusal did not revoke the family: the owner's successor works.
	if !e.bearerOK(p1.AccessToken) {
		t.Error("access token of the family refused after a refused replay")
	}
	e.mustRefresh(p1.RefreshToken)
}

// TestRefresh_ZeroGraceReplaysServesNone: with the bound at 0 a replay
// inside the window is refused (and logged) without revoking the family.
func TestRefresh_ZeroGraceReplaysServesNone(t *testing.T) {
	cfg := testConfig()
	cfg.RefreshGraceReplays = 0
	e := newEnv(t, cfg)
	_, p0 := e.tokenUser("gina@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)
	got, err := e.refresh(p0.RefreshToken)
	if got != nil {
		t.Fatal("replay served with RefreshGraceReplays = 0")
	}
	wantCode(t, err, auth.CodeInvalidToken)
	if n := len(replayEvents(t, e)); n != 1 {
		t.Errorf("%d refresh_token_replayed events, want 1", n)
	}
	e.mustRefresh(p1.RefreshToken)
}

// TestRefresh_RefusedReplayRevokesAfterWindow: a replay refused for the
// bound inside the window is reuse once the window has passed.
func TestRefresh_RefusedReplayRevokesAfterWindow(t *testing.T) {
	cfg := testConfig()
	cfg.RefreshGraceReplays = 1
	e := newEnv(t, cfg)
	_, p0 := e.tokenUser("gina@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)
	e.mustRefresh(p0.RefreshToken)
	_, err := e.refresh(p0.RefreshToken)
	wantCode(t, err, auth.CodeInvalidToken)
	e.clock.Advance(cfg.RefreshGrace + time.Millisecond)
	_, err = e.refresh(p0.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = e.refresh(p1.RefreshToken)
	wantCode(t, err, auth.CodeInvalidToken)
}

// TestRefresh_ParallelGraceReplaysTakeTheBound: 20 parallel replays of one
// rotated token get the successor exactly RefreshGraceReplays times.
func TestRefresh_ParallelGraceReplaysTakeTheBound(t *testing.T) {
	cfg := testConfig()
	cfg.RefreshGraceReplays = 3
	e := newEnv(t, cfg)
	_, p0 := e.tokenUser("gina@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)
	var served, refused atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := e.svc.Refresh(e.ctx, e.cl, p0.RefreshToken.Reveal())
			switch {
			case err == nil && p.RefreshToken.Reveal() == p1.RefreshToken.Reveal():
				served.Add(1)
			case auth.ErrorCode(err) == auth.CodeInvalidToken:
				refused.Add(1)
			default:
				t.Errorf("parallel replay: %v, %v", p, err)
			}
		}()
	}
	wg.Wait()
	if served.Load() != 3 || refused.Load() != 17 {
		t.Errorf("20 parallel replays: %d served, %d refused; want 3 and 17", served.Load(), refused.Load())
	}
	e.mustRefresh(p1.RefreshToken)
}
