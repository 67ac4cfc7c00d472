package auth

import "context"

// Notify lets the external tests call notify, which only the service's own
// flows (and those of the second factors) call.
func (s *Service) Notify(ctx context.Context, cl Client, u *User, n Notice, detail string) error {
	return s.notify(ctx, cl, u, n, detail)
}
