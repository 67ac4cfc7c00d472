package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// maxPer is the longest window Allow accepts, as in internal/memory.
const maxPer = 366 * 24 * time.Hour

// maxProduct bounds N times Per in microseconds. Lua in Redis computes with
// float64, exact for integers up to 2^53; the script's largest intermediate
// value is below 2*N*Per, so N*Per must stay within 2^52. That allows, for
// example, 75 million events a minute, a million an hour or 52,000 a day,
// far beyond any authentication limit.
const maxProduct = 1 << 52

// Limiter is an auth.Limiter shared by every instance that uses the same
// Redis and prefix. It has the semantics of internal/memory's Limiter: a
// sliding-window counter that estimates the events of the last Per as
// prev*(1-elapsed/Per) + curr and allows an event while that estimate is
// below N, so a fresh key allows exactly N events in a burst, across all
// instances together, and refuses the next. Refused events are not counted
// (see memory.Limiter for why), and retryAfter is the time until the estimate
// falls below N if no other event comes, in (0, Per].
//
// Each decision is one Lua script run atomically by Redis (EVALSHA, falling
// back to EVAL when the server does not have the script cached). The script
// reads the time from the Redis server (TIME), so instances with skewed
// clocks still agree on the windows. Time is counted in microseconds and the
// estimate compared exactly, in integers below 2^53.
//
// The counts of one (key, Per) pair live in one Redis key per fixed window,
//
//	<prefix>rl:<key>:<Per in seconds>:<window index>
//
// where the window index is the server time divided by Per. A counter lives
// for two windows after its last increment (PEXPIRE), the time it takes to
// stop counting, so nothing lingers. One key used with limits of two different
// Per has two independent counters; limits with the same Per share one, so
// callers name the limiter in the key ("login_ip:…").
//
// Any failure to reach Redis (down, timeout, closed client) returns an error
// wrapping auth.ErrUnavailable and ok false: callers fail closed.
//
// If the Redis server's clock steps back across a window boundary, the script
// notices the newer window's counter and keeps counting there, which refuses
// more rather than less. A step back of more than one window is not detected
// and can reset the counts once.
type Limiter struct {
	c *Client
}

var _ auth.Limiter = (*Limiter)(nil)

// Limiter returns the shared rate limiter on c.
func (c *Client) Limiter() *Limiter { return &Limiter{c: c} }

// Allow records one event for key under limit and reports whether it is
// within the limit. When it is not, the event is not recorded and retryAfter
// (in (0, limit.Per]) is the time until it would be allowed if no other event
// comes; callers round it up to whole seconds. Errors: an invalid limit (N or
// Per not positive, Per not a whole number of microseconds or above 366
// days, N*Per above 2^52 events·µs); anything else wraps auth.ErrUnavailable.
func (l *Limiter) Allow(ctx context.Context, key string, limit auth.Limit) (ok bool, retryAfter time.Duration, err error) {
	if limit.N <= 0 || limit.Per <= 0 || limit.Per > maxPer || limit.Per%time.Microsecond != 0 ||
		uint64(limit.N) > maxProduct/uint64(limit.Per/time.Microsecond) {
		return false, 0, fmt.Errorf("redis limiter: invalid limit %d/%s", limit.N, limit.Per)
	}
	per := int64(limit.Per / time.Microsecond)
	// A counter must outlive the window after its own: 2*Per from any moment
	// of its window is enough. PEXPIRE takes milliseconds; round up.
	ttl := (2*per + 999) / 1000
	now := ""
	if l.c.now != nil {
		now = strconv.FormatInt(l.c.now().UnixMicro(), 10)
	}
	base := l.c.prefix + "rl:" + key + ":" + perSeconds(per) + ":"

	res, err := allowScript.Run(ctx, l.c.rdb, []string{base}, per, limit.N, ttl, now).Int64Slice()
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

// allowScript decides one event. It is the Lua twin of memory.Limiter.Allow;
// the integer arguments keep every value an exact float64.
//
// KEYS[1]  the key name without its window index: "<prefix>rl:<key>:<per>:"
// ARGV[1]  per, the window, in microseconds
// ARGV[2]  n, the number of events allowed per window
// ARGV[3]  the counters' time to live in milliseconds (2*per)
// ARGV[4]  now in microseconds since the epoch, or "" for the server's TIME
//
// It returns {1, 0} when the event is allowed (and counted) and {0, retry}
// with retry in microseconds when it is refused (and not counted).
//
// The window keys are built inside the script, from the server's clock, so
// the script touches keys not passed in KEYS: fine on a standalone Redis, not
// allowed on Redis Cluster. Since Redis 5 scripts replicate their effects, so
// TIME followed by writes is allowed; replicate_commands makes Redis 3.2 and
// 4 do the same.
var allowScript = goredis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local per = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local now
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- floor(now/per), corrected for the rounding of the float division.
local w = math.floor(now / per)
if w * per > now then
  w = w - 1
elseif (w + 1) * per <= now then
  w = w + 1
end
local function idx(x) return string.format('%.0f', x) end
local kcurr = KEYS[1] .. idx(w)
local knext = KEYS[1] .. idx(w + 1)
local v = redis.call('MGET', KEYS[1] .. idx(w - 1), kcurr, knext)
local prev = tonumber(v[1]) or 0
local curr = tonumber(v[2]) or 0
local elapsed = now - w * per
if v[3] then
  -- The clock went back across a window boundary: stay in the latest
  -- window seen, at its start, which weighs the previous window fully.
  prev, curr, elapsed, kcurr = curr, tonumber(v[3]) or 0, 0, knext
end

-- The estimate prev*(1-elapsed/per) + curr is below n.
if prev * (per - elapsed) + curr * per < n * per then
  redis.call('INCR', kcurr)
  redis.call('PEXPIRE', kcurr, ttl)
  return {1, 0}
end

-- maxleft returns the largest x with d*x < a*per, or per when that exceeds per.
local function maxleft(a, d)
  local ap = a * per
  if d <= 0 then return per end
  local q = math.floor(ap / d)
  if q * d > ap then
    q = q - 1
  elseif (q + 1) * d <= ap then
    q = q + 1
  end
  if q * d == ap then q = q - 1 end
  if q > per then return per end
  return q
end

local wait
if curr < n then
  -- Within this window: below n once the time left x satisfies
  -- prev*x < (n-curr)*per.
  wait = per - maxleft(n - curr, prev) - elapsed
else
  -- In the next window curr becomes prev: below n once curr*x < n*per.
  wait = per - elapsed + per - maxleft(n, curr)
end
if wait < 1 then wait = 1 end
if wait > per then wait = per end
return {0, wait}
`)
