package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// SetLogger sends go-redis' own messages (failed dials, pool trouble) to l at
// warning level instead of the standard error. go-redis has a single logger
// for the whole process, not one per client, so this is process-wide: call it
// once, from main, before Open. A nil l discards the messages.
func SetLogger(l *slog.Logger) {
	goredis.SetLogger(slogAdapter{l})
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	if a.l == nil {
		return
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	a.l.WarnContext(ctx, "redis client", "detail", msg)
}
