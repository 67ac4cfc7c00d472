package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// TestWrapErr checks the mapping of driver errors onto the auth sentinels,
// without a server.
func TestWrapErr(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	tests := []struct {
		name string
		err  error
		want error // nil: none of the sentinels
	}{
		{"no rows", pgx.ErrNoRows, auth.ErrNotFound},
		{"unique violation", pg("23505"), auth.ErrConflict},
		{"foreign key violation", pg("23503"), auth.ErrNotFound},
		{"admin shutdown", pg("57P01"), auth.ErrUnavailable},
		{"crash shutdown", pg("57P02"), auth.ErrUnavailable},
		{"starting up", pg("57P03"), auth.ErrUnavailable},
		{"too many connections", pg("53300"), auth.ErrUnavailable},
		{"connection failure", pg("08006"), auth.ErrUnavailable},
		{"read-only standby", pg("25006"), auth.ErrUnavailable},
		{"statement timeout", pg("57014"), auth.ErrUnavailable},
		{"deadlock", pg("40P01"), auth.ErrUnavailable},
		{"closed", errClosed, auth.ErrUnavailable},
		{"pool closed", errors.New("closed pool"), auth.ErrUnavailable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), auth.ErrUnavailable},
		{"lost connection", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), auth.ErrUnavailable},
		{"syntax error", pg("42601"), nil},
		{"check violation", pg("23514"), nil},
		{"other", errors.New("scan: bad type"), nil},
	}
	for _, tc := range tests {
		got := wrapErr("do thing", tc.err)
		if !errors.Is(got, tc.err) && !errors.Is(tc.err, pgx.ErrNoRows) {
			t.Errorf("%s: %v does not wrap %v", tc.name, got, tc.err)
		}
		for _, s := range []error{auth.ErrNotFound, auth.ErrConflict, auth.ErrUnavailable} {
			if is := errors.Is(got, s); is != (s == tc.want) {
				t.Errorf("%s: errors.Is(%v, %v) = %v", tc.name, got, s, is)
			}
		}
	}
	if wrapErr("x", nil) != nil {
		t.Error("wrapErr of nil is not nil")
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"Mozilla/5.0":  "Mozilla/5.0",
		"":             "",
		"a\x00b":       "a\uFFFDb",
		"caf\xe9":      "caf\uFFFD",
		"ünïcødé":      "ünïcødé",
		"\xff\x00\xfe": "\uFFFD\uFFFD\uFFFD",
	} {
		if got := text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
}
