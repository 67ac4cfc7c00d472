package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Admin actions, the action of an admin_action audit event.
const (
	AdminDisable        = "disable"
	AdminEnable         = "enable"
	AdminUnlock         = "unlock"
	AdminRevokeSessions = "revoke_sessions"
	AdminDelete         = "delete"
	AdminGrant          = "grant_admin"
	AdminRevoke         = "revoke_admin"
)

// Page sizes of the admin users list.
const (
	DefaultUserPage = 50
	MaxUserPage     = 200
)

// UserDetail is what an admin sees of one user.
type UserDetail struct {
	UserSummary
	Sessions []SessionInfo
	Lockout  Lockout
	// MFALockout is the lockout of the user's second factors, a counter of
	// its own (see CompleteMFA).
	MFALockout Lockout
}

// Admin is the operator's view of the service: the admin API over HTTP and
// the users CLI. Every method that changes something writes an admin_action
// audit event naming the actor and the target (OWASP ASVS 5.0 16.3.2).
// Callers over HTTP check the role first (RequireAdmin).
type Admin struct {
	users interface {
		Store
		AdminStore
	}
	now       func() time.Time
	canon     func(string) (string, bool)
	auditFunc func(context.Context, Client, Event)
}

// Admin returns the admin view, or an error if the store has no admin
// operations.
func (s *Service) Admin() (*Admin, error) {
	a, err := NewAdmin(s.store, s.canonEmail, s.now, nil)
	if err != nil {
		return nil, err
	}
	a.auditFunc = s.audit
	return a, nil
}

// NewAdmin returns the admin view of store without a Service, for the
// command line: canon is the canonical form of an address
// (internal/email.Canonical), now the clock, and audit events are written
// to log.
func NewAdmin(store Store, canon func(string) (string, bool), now func() time.Time, log *slog.Logger) (*Admin, error) {
	as, ok := store.(interface {
		Store
		AdminStore
	})
	if !ok {
		return nil, errors.New("this store has no admin operations")
	}
	a := &Admin{users: as, now: now, canon: canon}
	if log != nil {
		a.auditFunc = (&Service{log: log, observer: noObserver{}}).audit
	}
	return a, nil
}

// RequireAdmin refuses, with 403 forbidden, a signed-in user who is not an
// admin (OWASP ASVS 5.0 8.2.1: function-level access control on the server).
func (a *Admin) RequireAdmin(ctx context.Context, cur *Current) error {
	ok, err := a.users.IsAdmin(ctx, cur.UserID)
	if err != nil {
		return storeErr("check admin", err)
	}
	if !ok {
		return &Error{Code: CodeForbidden, Message: "This requires the admin role."}
	}
	return nil
}

// ListUsers lists users whose email starts with query (compared with the
// canonical, lower-case form of what was typed), limit at a time from the
// opaque cursor; next is "" on the last page.
func (a *Admin) ListUsers(ctx context.Context, query, cursor string, limit int) (users []UserSummary, next string, err error) {
	if limit == 0 {
		limit = DefaultUserPage
	}
	if limit < 1 || limit > MaxUserPage {
		return nil, "", invalidField("limit", "must be between 1 and 200")
	}
	if len(query) > 320 || !utf8.ValidString(query) {
		return nil, "", invalidField("query", "must be at most 320 bytes of UTF-8")
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) == 0 || len(b) > 320 || !utf8.Valid(b) {
			return nil, "", invalidField("cursor", "is not a cursor of this list")
		}
		after = string(b)
	}
	prefix := strings.ToLower(norm.NFC.String(strings.TrimSpace(query)))
	// One more than asked tells whether another page follows.
	users, err = a.users.ListUsers(ctx, prefix, after, limit+1)
	if err != nil {
		return nil, "", storeErr("list users", err)
	}
	if len(users) > limit {
		users = users[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(users[limit-1].Email))
	}
	return users, next, nil
}

// User returns one user with their sessions and lockout state.
func (a *Admin) User(ctx context.Context, id string) (*UserDetail, error) {
	u, err := a.user(ctx, id)
	if err != nil {
		return nil, err
	}
	admin, err := a.users.IsAdmin(ctx, u.ID)
	if err != nil {
		return nil, storeErr("get user", err)
	}
	now := a.now().UTC()
	sessions, err := a.users.ListSessions(ctx, u.ID, now)
	if err != nil {
		return nil, storeErr("get user", err)
	}
	var locks [2]Lockout
	for i, key := range []string{u.Email, mfaLockKey(u.Email)} {
		if locks[i], err = a.users.LoginLockout(ctx, key); err != nil {
			return nil, storeErr("get user", err)
		}
		if !locks[i].LockedUntil.After(now) {
			locks[i].LockedUntil = time.Time{}
		}
	}
	return &UserDetail{
		UserSummary: UserSummary{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Disabled: u.Disabled, Admin: admin, CreatedAt: u.CreatedAt,
			TOTPEnabled: u.TOTPEnabled, Passkeys: u.Passkeys},
		Sessions:   sessions,
		Lockout:    locks[0],
		MFALockout: locks[1],
	}, nil
}

func (a *Admin) user(ctx context.Context, id string) (*User, error) {
	u, err := a.users.UserByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Message: "No such user."}
	}
	if err != nil {
		return nil, storeErr("get user", err)
	}
	return u, nil
}

// Act applies one action to the user with id on behalf of actor (the admin's
// user id, or "cli" for the command line) and audits it. Disabling ends
// every cookie session, refresh family and access token of the user at once;
// an admin cannot disable, delete or demote themselves (so the last admin
// cannot lock everyone out by mistake).
func (a *Admin) Act(ctx context.Context, cl Client, actor, id, action string) error {
	u, err := a.user(ctx, id)
	if err != nil {
		return err
	}
	if actor == u.ID && (action == AdminDisable || action == AdminDelete || action == AdminRevoke) {
		return &Error{Code: CodeInvalidRequest, Message: "An admin cannot disable, delete or demote their own account."}
	}
	now := a.now().UTC()
	switch action {
	case AdminDisable:
		_, err = a.users.SetDisabled(ctx, u.ID, true, now)
	case AdminEnable:
		_, err = a.users.SetDisabled(ctx, u.ID, false, now)
	case AdminUnlock:
		if err = a.users.ClearLoginFailures(ctx, u.Email); err == nil {
			err = a.users.ClearLoginFailures(ctx, mfaLockKey(u.Email))
		}
	case AdminRevokeSessions:
		_, err = a.users.RevokeAll(ctx, u.ID, now)
	case AdminDelete:
		err = a.users.DeleteUser(ctx, u.ID)
	case AdminGrant:
		err = a.users.SetAdmin(ctx, u.ID, true, now)
	case AdminRevoke:
		err = a.users.SetAdmin(ctx, u.ID, false, now)
	default:
		return &Error{Code: CodeNotFound, Message: "No such action."}
	}
	if errors.Is(err, ErrNotFound) {
		return &Error{Code: CodeNotFound, Message: "No such user."}
	}
	if err != nil {
		return storeErr("admin "+action, err)
	}
	a.auditFunc(ctx, cl, Event{Name: EventAdminAction, UserID: actor, Action: action, TargetID: u.ID, Email: u.Email})
	return nil
}

// UserByEmail finds a user for the CLI, which names users by address.
func (a *Admin) UserByEmail(ctx context.Context, email string) (*User, error) {
	canon, ok := a.canon(email)
	if !ok {
		return nil, invalidField("email", "must be a valid email address")
	}
	u, err := a.users.UserByEmail(ctx, canon)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Message: "No such user."}
	}
	if err != nil {
		return nil, storeErr("get user", err)
	}
	return u, nil
}
