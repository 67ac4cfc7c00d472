package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"
)

// touchEvery is how stale last_seen_at may get before a request writes it
// again: session checks are reads, not a write per request.
const touchEvery = time.Minute

// Current is the credential a request was authenticated with.
type Current struct {
	UserID    string
	SessionID string // public id of the cookie session, if a cookie
	FamilyID  string // sid of the access token, if a bearer token
	Claims    *AccessClaims
	// Methods and AuthTime say how and when the session or refresh family
	// was established (its assurance: Methods.Level).
	Methods  Methods
	AuthTime time.Time
	// sessionToken is kept to derive the CSRF token.
	sessionToken string
}

// String leaves out the session token, which fmt would otherwise print.
func (c Current) String() string {
	return "Current{user " + c.UserID + ", session " + c.SessionID + ", family " + c.FamilyID + "}"
}

// GoString is String.
func (c Current) GoString() string { return c.String() }

// LogValue leaves out the session token.
func (c Current) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", c.UserID), slog.String("session", c.SessionID), slog.String("family", c.FamilyID))
}

// NewSession is a freshly created cookie session.
type NewSession struct {
	Token     Secret
	CSRFToken Secret
	ExpiresAt time.Time
	Session   *Session
}

// CreateSession starts a cookie session for a complete login (every factor
// the account needs proved). The token is new for every login (no fixation:
// ASVS 7.2.4).
func (s *Service) CreateSession(ctx context.Context, cl Client, l *Login) (*NewSession, error) {
	if !l.Complete() {
		return nil, &Error{Code: CodeInternal, Message: "Internal error.", Err: errors.New("create session: incomplete login")}
	}
	u := l.User
	tok, err := newToken(s.rand)
	if err != nil {
		return nil, storeErr("create session", err)
	}
	id, err := newID(s.rand, "ses_")
	if err != nil {
		return nil, storeErr("create session", err)
	}
	now := s.now().UTC()
	sess := &Session{
		ID: id, UserID: u.ID, TokenHash: HashToken(tok.Reveal()), CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.SessionTTL), IP: cl.IP, UserAgent: truncate(cl.UserAgent, 256),
		CredentialVersion: u.CredentialVersion, Methods: l.Methods,
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		if errors.Is(err, ErrCredentialChanged) {
			// The password changed after this login checked it: the login
			// fails as if the password were wrong (not counted: it was right).
			return nil, invalidCredentials()
		}
		return nil, storeErr("create session", err)
	}
	if l.NewDevice {
		s.tell(ctx, cl, u, NoticeNewSignIn, "")
	}
	return &NewSession{Token: tok, CSRFToken: csrfToken(tok.Reveal()), ExpiresAt: sess.ExpiresAt, Session: sess}, nil
}

// csrfToken derives the session's CSRF token from the session token with
// HMAC, keyed by the token itself: it is stable for the session, needs no
// storage or server key, and does not reveal the session token.
func csrfToken(sessionToken string) Secret {
	mac := hmac.New(sha256.New, []byte(sessionToken))
	mac.Write([]byte("bulwark csrf v1"))
	return Secret(base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
}

// CSRFToken returns the CSRF token of a cookie-authenticated request.
func (c *Current) CSRFToken() Secret {
	if c.sessionToken == "" {
		return ""
	}
	return csrfToken(c.sessionToken)
}

// CheckCSRF reports whether got is the session's CSRF token, in constant time.
func (c *Current) CheckCSRF(got string) bool {
	want := c.CSRFToken()
	return want != "" && hmac.Equal([]byte(got), []byte(want))
}

// SessionByToken authenticates a session cookie. A token the server never
// issued, an expired one (absolute or idle, enforced here and not by the
// cookie's Max-Age) or one of a disabled account is refused.
func (s *Service) SessionByToken(ctx context.Context, token string) (*Current, *User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, unauthenticated()
	}
	sess, u, err := s.store.SessionWithUser(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, unauthenticated()
	}
	if err != nil {
		return nil, nil, storeErr("load session", err)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) {
		return nil, nil, unauthenticated()
	}
	if s.cfg.SessionIdleTTL > 0 && now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdleTTL {
		return nil, nil, unauthenticated()
	}
	if u.Disabled {
		return nil, nil, unauthenticated()
	}
	// A session established with the password alone is no session for an
	// account that has a second factor now (one that raced the step-up).
	if u.HasMFA() && !sess.Methods.MultiFactor() {
		return nil, nil, unauthenticated()
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, sess.ID, now.UTC()); err != nil {
			return nil, nil, storeErr("touch session", err)
		}
	}
	return &Current{UserID: u.ID, SessionID: sess.ID, Methods: sess.Methods, AuthTime: sess.CreatedAt, sessionToken: token}, u, nil
}

// DeleteSession ends the cookie session of cur (logout).
func (s *Service) DeleteSession(ctx context.Context, cl Client, cur *Current) error {
	err := s.store.DeleteSession(ctx, cur.UserID, cur.SessionID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr("delete session", err)
	}
	s.audit(ctx, cl, Event{Name: EventLogout, UserID: cur.UserID, SessionID: cur.SessionID})
	return nil
}

// BearerByToken authenticates an access token: signature and claims, then the
// deny list (its jti and its family's sid), the user's revocation epoch and
// the account state, on every request.
func (s *Service) BearerByToken(ctx context.Context, token string) (*Current, *User, error) {
	now := s.now()
	c, err := s.tokens.Verify(token, now)
	if err != nil {
		return nil, nil, unauthenticated()
	}
	u, denied, err := s.store.UserForAccess(ctx, c.Subject, now.UTC(), "jti:"+c.ID, "sid:"+c.SessionID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, unauthenticated()
	}
	if err != nil {
		return nil, nil, storeErr("check access token", err)
	}
	// The credential version makes a password change exact: a token issued
	// before it is refused and one issued after it accepted, even within one
	// second (ASVS 5.0 7.4.1). The epoch still covers other revocations.
	if denied || u.Disabled || c.IssuedAt.Unix() < u.TokensValidAfter.Unix() || c.CredentialVersion != u.CredentialVersion {
		return nil, nil, unauthenticated()
	}
	if u.HasMFA() && !c.Methods.MultiFactor() {
		return nil, nil, unauthenticated()
	}
	return &Current{UserID: u.ID, FamilyID: c.SessionID, Claims: &c, Methods: c.Methods, AuthTime: c.AuthTime}, u, nil
}

// SessionView is one entry of the sessions list.
type SessionView struct {
	SessionInfo
	Current bool
}

// ListSessions lists the user's cookie sessions and refresh families.
func (s *Service) ListSessions(ctx context.Context, cur *Current) ([]SessionView, error) {
	infos, err := s.store.ListSessions(ctx, cur.UserID, s.now().UTC())
	if err != nil {
		return nil, storeErr("list sessions", err)
	}
	out := make([]SessionView, len(infos))
	for i, in := range infos {
		out[i] = SessionView{SessionInfo: in, Current: in.ID == cur.SessionID || in.ID == cur.FamilyID}
	}
	return out, nil
}

// RevokeSession revokes one of the user's sessions or families by public id.
// Another user's id is not_found.
func (s *Service) RevokeSession(ctx context.Context, cl Client, cur *Current, id string) error {
	err := s.store.DeleteSession(ctx, cur.UserID, id)
	if err == nil {
		s.audit(ctx, cl, Event{Name: EventSessionRevoked, UserID: cur.UserID, SessionID: id})
		return nil
	}
	if !errors.Is(err, ErrNotFound) {
		return storeErr("revoke session", err)
	}
	if err := s.revokeFamily(ctx, cur.UserID, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return &Error{Code: CodeNotFound, Message: "No such session."}
		}
		return storeErr("revoke session", err)
	}
	s.audit(ctx, cl, Event{Name: EventSessionRevoked, UserID: cur.UserID, SessionID: id})
	return nil
}

// RevokeOtherSessions revokes every session and family of the user but the
// current one.
func (s *Service) RevokeOtherSessions(ctx context.Context, cl Client, cur *Current) error {
	if err := s.revokeOthers(ctx, cur, false); err != nil {
		return err
	}
	s.audit(ctx, cl, Event{Name: EventSessionRevoked, UserID: cur.UserID, Reason: "all_other_sessions"})
	return nil
}

// revokeOthers ends the cookie sessions and refresh families of cur's user
// but cur's own, and denies the access tokens of those families; with
// passwordOnly, only those established with the password alone.
func (s *Service) revokeOthers(ctx context.Context, cur *Current, passwordOnly bool) error {
	now := s.now().UTC()
	revoke := s.store.RevokeUserSessions
	if passwordOnly {
		revoke = s.store.RevokeSingleFactorSessions
	}
	fams, err := revoke(ctx, cur.UserID, cur.SessionID, cur.FamilyID, now)
	if err != nil {
		return storeErr("revoke sessions", err)
	}
	return s.denyFamilies(ctx, fams, now)
}

// revokeFamily revokes a family and denies the access tokens issued from it
// until they expire (docs/api.md, "Two ways to be signed in").
func (s *Service) revokeFamily(ctx context.Context, userID, familyID string) error {
	now := s.now().UTC()
	if err := s.store.RevokeFamily(ctx, userID, familyID, now); err != nil {
		return err
	}
	return s.store.Deny(ctx, "sid:"+familyID, now.Add(s.cfg.AccessTTL+time.Minute))
}

func (s *Service) denyFamilies(ctx context.Context, ids []string, now time.Time) error {
	for _, id := range ids {
		if err := s.store.Deny(ctx, "sid:"+id, now.Add(s.cfg.AccessTTL+time.Minute)); err != nil {
			return storeErr("deny family", err)
		}
	}
	return nil
}

// replacePassword stores a new password hash with the revocation of a change
// or reset in one store transaction (ReplacePassword), then denies the access
// tokens of the families it revoked.
func (s *Service) replacePassword(ctx context.Context, userID, hash, keepSession, keepFamily string) error {
	now := s.now().UTC()
	fams, _, err := s.store.ReplacePassword(ctx, userID, hash, keepSession, keepFamily, now)
	if err != nil {
		return storeErr("replace password", err)
	}
	return s.denyFamilies(ctx, fams, now)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
