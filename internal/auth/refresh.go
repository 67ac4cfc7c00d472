package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
)

// TokenPair is the answer of a token login or a refresh.
type TokenPair struct {
	AccessToken  Secret
	ExpiresIn    time.Duration
	RefreshToken Secret
	FamilyID     string
}

// IssueTokens starts a refresh family for a complete login and returns its
// first refresh token with an access token.
func (s *Service) IssueTokens(ctx context.Context, cl Client, l *Login) (*TokenPair, error) {
	if !l.Complete() {
		return nil, &Error{Code: CodeInternal, Message: "Internal error.", Err: errors.New("issue tokens: incomplete login")}
	}
	u := l.User
	rt, err := newToken(s.rand)
	if err != nil {
		return nil, storeErr("issue tokens", err)
	}
	fid, err := newID(s.rand, "fam_")
	if err != nil {
		return nil, storeErr("issue tokens", err)
	}
	now := s.now().UTC()
	f := &RefreshFamily{
		ID: fid, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL),
		IP: cl.IP, UserAgent: truncate(cl.UserAgent, 256), CredentialVersion: u.CredentialVersion, Methods: l.Methods,
	}
	first := &RefreshToken{Hash: HashToken(rt.Reveal()), FamilyID: fid, CreatedAt: now}
	if err := s.store.CreateRefreshFamily(ctx, f, first); err != nil {
		if errors.Is(err, ErrCredentialChanged) {
			// As in CreateSession: a login that checked the old password.
			return nil, invalidCredentials()
		}
		return nil, storeErr("issue tokens", err)
	}
	if l.NewDevice {
		s.tell(ctx, cl, u, NoticeNewSignIn, "")
	}
	at, err := s.accessToken(u, f, now)
	if err != nil {
		return nil, err
	}
	return &TokenPair{AccessToken: at, ExpiresIn: s.cfg.AccessTTL, RefreshToken: rt, FamilyID: fid}, nil
}

func (s *Service) accessToken(u *User, f *RefreshFamily, now time.Time) (Secret, error) {
	jti := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, jti); err != nil {
		return "", storeErr("issue access token", err)
	}
	tok, err := s.tokens.Issue(AccessClaims{
		Subject: u.ID, SessionID: f.ID, ID: base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.AccessTTL), CredentialVersion: u.CredentialVersion,
		Methods: f.Methods, AuthTime: f.CreatedAt,
	})
	if err != nil {
		return "", &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("issue access token: %w", err)}
	}
	return Secret(tok), nil
}

// Refresh rotates a refresh token (RFC 9700 §4.14.2). The current token is
// swapped for a new one atomically. A token that was just replaced, presented
// again inside the grace window while its successor is still current, gets
// that same successor back (two tabs, a lost response); any other reuse
// revokes the whole family and the access tokens issued from it (ASVS
// 10.4.5). Only unknown tokens count toward the per-IP token limit, so many
// users behind one address are never limited for valid refreshes.
func (s *Service) Refresh(ctx context.Context, cl Client, token string) (*TokenPair, error) {
	if token == "" || len(token) > 128 {
		return nil, s.unknownRefresh(ctx, cl)
	}
	hash := HashToken(token)
	for attempt := 0; attempt < 2; attempt++ {
		rt, fam, err := s.store.RefreshTokenByHash(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			return nil, s.unknownRefresh(ctx, cl)
		}
		if err != nil {
			return nil, storeErr("refresh", err)
		}
		now := s.now().UTC()
		if fam.Revoked() || !now.Before(fam.ExpiresAt) {
			return nil, invalidToken()
		}
		u, err := s.store.UserByID(ctx, fam.UserID)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, invalidToken()
			}
			return nil, storeErr("refresh", err)
		}
		if u.Disabled {
			return nil, invalidToken()
		}
		// A family established with the password alone cannot be refreshed
		// once the account has a second factor (one that raced the
		// step-up's revocation): no pre-MFA refresh token turns into a
		// session of the stronger account.
		if u.HasMFA() && !fam.Methods.MultiFactor() {
			if err := s.revokeFamily(ctx, "", fam.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, storeErr("revoke family", err)
			}
			return nil, invalidToken()
		}
		if rt.UsedAt.IsZero() {
			next, err := newToken(s.rand)
			if err != nil {
				return nil, storeErr("refresh", err)
			}
			sealed, err := sealSuccessor(s.rand, token, next.Reveal())
			if err != nil {
				return nil, storeErr("refresh", err)
			}
			n := &RefreshToken{Hash: HashToken(next.Reveal()), FamilyID: fam.ID, ParentHash: hash, CreatedAt: now}
			n.SealedSuccessor = sealed
			swapped, err := s.store.RotateRefreshToken(ctx, hash, n, now)
			if err != nil {
				return nil, storeErr("refresh", err)
			}
			if swapped {
				return s.pair(u, fam, next, now)
			}
			// Another request rotated it first: read again and take the
			// reuse path below.
			continue
		}
		return s.reuse(ctx, cl, token, rt, fam, u, now)
	}
	return nil, invalidToken()
}

func (s *Service) pair(u *User, fam *RefreshFamily, rt Secret, now time.Time) (*TokenPair, error) {
	at, err := s.accessToken(u, fam, now)
	if err != nil {
		return nil, err
	}
	return &TokenPair{AccessToken: at, ExpiresIn: s.cfg.AccessTTL, RefreshToken: rt, FamilyID: fam.ID}, nil
}

// reuse handles a refresh token that has already been rotated. Inside the
// grace window, while the successor is still current, the holder of the old
// token is given that successor again at most RefreshGraceReplays times per
// rotation, each replay counted atomically in the store and logged as
// refresh_token_replayed; past the bound it is refused with invalid_token but
// the family is left alone until the window ends, so a thief racing the
// owner cannot log the owner out. Any other reuse revokes the family (RFC
// 9700 §4.14.2, ASVS 10.4.5).
func (s *Service) reuse(ctx context.Context, cl Client, token string, rt *RefreshToken, fam *RefreshFamily, u *User, now time.Time) (*TokenPair, error) {
	if s.cfg.RefreshGrace > 0 && now.Sub(rt.UsedAt) <= s.cfg.RefreshGrace && len(rt.SealedSuccessor) > 0 {
		succ, _, err := s.store.RefreshTokenByHash(ctx, rt.SuccessorHash)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, storeErr("refresh", err)
		}
		if err == nil && succ.UsedAt.IsZero() {
			next, err := openSuccessor(token, rt.SealedSuccessor)
			if err == nil && hmac.Equal(HashToken(next), rt.SuccessorHash) {
				served := false
				if s.cfg.RefreshGraceReplays > 0 {
					served, err = s.store.CountRefreshReplay(ctx, HashToken(token), s.cfg.RefreshGraceReplays)
					if err != nil {
						return nil, storeErr("refresh", err)
					}
				}
				if served {
					s.audit(ctx, cl, Event{Name: EventRefreshTokenReplayed, UserID: u.ID, SessionID: fam.ID})
					return s.pair(u, fam, Secret(next), now)
				}
				s.audit(ctx, cl, Event{Name: EventRefreshTokenReplayed, UserID: u.ID, SessionID: fam.ID, Reason: "replay_limit"})
				return nil, invalidToken()
			}
		}
	}
	if err := s.revokeFamily(ctx, "", fam.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, storeErr("revoke family", err)
	}
	s.audit(ctx, cl, Event{Name: EventRefreshTokenReused, UserID: u.ID, SessionID: fam.ID})
	return nil, &Error{Code: CodeRefreshTokenReused, Message: "This refresh token was already used; the session has been revoked."}
}

func (s *Service) unknownRefresh(ctx context.Context, cl Client) error {
	if err := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); err != nil {
		return err
	}
	return invalidToken()
}

// sealSuccessor encrypts the successor token with AES-256-GCM under a key
// derived from the token it replaces, so only a holder of the old token can
// recover it, and a database reader learns nothing.
func sealSuccessor(r io.Reader, oldToken, next string) ([]byte, error) {
	aead, err := successorAEAD(oldToken)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(next), nil), nil
}

func openSuccessor(oldToken string, sealed []byte) (string, error) {
	aead, err := successorAEAD(oldToken)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func successorAEAD(oldToken string) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, []byte(oldToken))
	mac.Write([]byte("bulwark refresh successor v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Revoke implements RFC 7009: an access token goes on the deny list until it
// expires; a refresh token revokes its family. Unknown and invalid tokens are
// not an error (RFC 7009 §2.2).
func (s *Service) Revoke(ctx context.Context, cl Client, token string) error {
	if token == "" || len(token) > 8192 {
		return nil
	}
	now := s.now()
	if looksLikeJWT(token) {
		c, err := s.tokens.Verify(token, now)
		if err != nil {
			return nil
		}
		if err := s.store.Deny(ctx, "jti:"+c.ID, c.ExpiresAt.Add(time.Minute)); err != nil {
			return storeErr("revoke token", err)
		}
		s.audit(ctx, cl, Event{Name: EventTokenRevoked, UserID: c.Subject, SessionID: c.SessionID, Reason: "access_token"})
		return nil
	}
	_, fam, err := s.store.RefreshTokenByHash(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeErr("revoke token", err)
	}
	if err := s.revokeFamily(ctx, "", fam.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr("revoke token", err)
	}
	s.audit(ctx, cl, Event{Name: EventTokenRevoked, UserID: fam.UserID, SessionID: fam.ID, Reason: "refresh_token"})
	return nil
}

// LogoutBearer denies the access token of cur and revokes its family.
func (s *Service) LogoutBearer(ctx context.Context, cl Client, cur *Current) error {
	c := cur.Claims
	if c == nil {
		return unauthenticated()
	}
	if err := s.store.Deny(ctx, "jti:"+c.ID, c.ExpiresAt.Add(time.Minute)); err != nil {
		return storeErr("logout", err)
	}
	if err := s.revokeFamily(ctx, cur.UserID, c.SessionID); err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr("logout", err)
	}
	s.audit(ctx, cl, Event{Name: EventLogout, UserID: cur.UserID, SessionID: c.SessionID})
	return nil
}
