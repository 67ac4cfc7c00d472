package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/memory"
)

// Limiter is an auth.Limiter shared by every instance that uses the same
// Redis and prefix. It makes the decisions of internal/memory's Limiter
// (memory.Step, of which the script below is the Lua twin): at most N events
// are accepted for a key in any interval of length Per, across all instances
// together. Refused events are not counted (see memory.Limiter for why), and
// retryAfter is the exact time until one more event fits.
//
// Each decision is one Lua script run atomically by Redis (EVALSHA, falling
// back to EVAL when the server does not have the script cached). The script
// reads the time from the Redis server (TIME), so instances with skewed
// clocks still agree. Time is counted in microseconds, and every value the
// script computes is an integer below 2^53, exact in Lua's float64.
//
// The log of one (key, Per) pair (memory.Log, in microseconds: start and
// count of each span, as little-endian float64s, which hold these integers
// exactly) lives in one Redis string,
//
//	<prefix>rl:<key>:<Per in seconds>
//
// that expires (PEXPIRE) when its newest span stops counting, so nothing
// lingers; one key per decision also keeps the script valid on Redis
// Cluster. One key used with limits of two different Per has two independent
// logs; limits with the same Per share one, so callers name the limiter in
// the key ("login_ip:…").
//
// Any failure to reach Redis (down, timeout, closed client) returns an error
// wrapping auth.ErrUnavailable and ok false: callers fail closed. If the
// Redis server's clock steps back, however far, the log's newest span keeps
// the decision at the latest time seen (memory.Step), which refuses more
// rather than less.
type Limiter struct {
	c *Client
}

var _ auth.Limiter = (*Limiter)(nil)

// Limiter returns the shared rate limiter on c.
func (c *Client) Limiter() *Limiter { return &Limiter{c: c} }

// Allow records one event for key under limit and reports whether it is
// within the limit. When it is not, the event is not recorded and retryAfter
// is the exact time until one more event fits; callers round it up to whole
// seconds. Errors: an invalid limit (memory.ValidLimit, and Per a whole
// number of microseconds); anything else wraps auth.ErrUnavailable.
func (l *Limiter) Allow(ctx context.Context, key string, limit auth.Limit) (ok bool, retryAfter time.Duration, err error) {
	if !memory.ValidLimit(limit) || limit.Per%time.Microsecond != 0 {
		return false, 0, fmt.Errorf("redis limiter: invalid limit %d/%s", limit.N, limit.Per)
	}
	per := int64(limit.Per / time.Microsecond)
	// The span width in microseconds: memory.Granularity on a whole
	// number of microseconds, rounded up the same way.
	g := int64(0)
	if limit.N > memory.MaxExact {
		g = (per + memory.Buckets - 1) / memory.Buckets
	}
	now := ""
	if l.c.now != nil {
		now = strconv.FormatInt(l.c.now().UnixMicro(), 10)
	}
	name := l.c.prefix + "rl:" + key + ":" + perSeconds(per)

	res, err := allowScript.Run(ctx, l.c.rdb, []string{name}, per, limit.N, g, now).Int64Slice()
	if err != nil {
		return false, 0, unavailable("redis limiter", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis limiter: %w: script returned %d values", auth.ErrUnavailable, len(res))
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Microsecond, nil
}

// perSeconds formats a window of us microseconds as exact decimal seconds:
// "60", "3600", "1.5", "0.000001".
func perSeconds(us int64) string {
	s := strconv.FormatInt(us/1e6, 10)
	if frac := us % 1e6; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	return s
}

// allowScript decides one event. It is the Lua twin of memory.Step, in
// microseconds; read that function's comment for the rule.
//
// KEYS[1]  the log's key: "<prefix>rl:<key>:<per>"
// ARGV[1]  per, the window, in microseconds
// ARGV[2]  n, the number of events allowed in any window
// ARGV[3]  g, the width of a span in microseconds (0: spans are instants)
// ARGV[4]  now in microseconds since the epoch, or "" for the server's TIME
//
// It returns {1, 0} when the event is accepted (and recorded) and {0, retry}
// with retry in microseconds when it is refused (and not recorded). Since
// Redis 5 scripts replicate their effects, so TIME followed by writes is
// allowed; replicate_commands makes Redis 3.2 and 4 do the same.
var allowScript = goredis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local per = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local g = tonumber(ARGV[3])
local now
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The log is stored as little-endian float64s (exact for the integers it
-- holds), unpacked and packed by one C call each.
local lg = {}
local raw = redis.call('GET', KEYS[1])
if raw and #raw >= 16 then
  lg = {struct.unpack('<' .. string.rep('d', math.floor(#raw / 8)), raw)}
  lg[#lg] = nil -- struct.unpack also returns the next position
end
local k = #lg - #lg % 2

-- A clock that went back decides at the newest span's time (fails closed).
local at = now
if k >= 2 and lg[k - 1] > at then at = lg[k - 1] end

-- Spans die at start + g + per; the live ones are counted.
local first = 1
while first < k and lg[first] + g + per <= at do first = first + 2 end
local count = 0
for i = first + 1, k, 2 do count = count + lg[i] end

if count < n then
  local start = at
  if g > 0 then start = at - math.fmod(at, g) end
  local out = {}
  for i = first, k do out[#out + 1] = lg[i] end
  local last = lg[k - 1]
  if k >= first + 1 and last == start then
    out[#out] = lg[k] + 1
  else
    out[#out + 1] = start
    out[#out + 1] = 1
    last = start
  end
  -- The log counts nothing once its newest span has died.
  local ttl = math.ceil((last + g + per - now) / 1000)
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], struct.pack('<' .. string.rep('d', #out), unpack(out)), 'PX', string.format('%.0f', ttl))
  return {1, 0}
end

-- Refused: wait for the first of the oldest spans whose death brings the
-- count below n.
for i = first, k, 2 do
  count = count - lg[i + 1]
  if count < n then return {0, lg[i] + g + per - now} end
end
return {0, per}
`)

// Ping reports whether the limiter's Redis answers.
func (l *Limiter) Ping(ctx context.Context) error { return l.c.Ping(ctx) }
