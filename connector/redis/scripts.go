package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	goredis "github.com/redis/go-redis/v9"
)

// Scripts build key names from a declared key's prefix (the retry and dead
// hashes). That is safe on Cluster because they share the queue's hash tag.

// enqueueScript: KEYS[1]=stream, KEYS[2]=seen key (optional);
// ARGV: ttl ms, key, payload, first-seen ms. XADD runs before SET so that a
// failing XADD leaves nothing behind (Redis does not roll scripts back).
var enqueueScript = newScript(`
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('XADD', KEYS[1], '*', 'k', ARGV[2], 'p', ARGV[3], 't', ARGV[4], 'a', '0')
if KEYS[2] then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end
return 1
`)

// ackScript: KEYS[1]=stream; ARGV: group, ids...
var ackScript = newScript(`
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return n
`)

// ownerCheck makes a settle a no-op unless the entry is still pending for
// this consumer: if another consumer took it over, that one settles it.
const ownerCheck = `
local pe = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pe == 0 or pe[1][2] ~= ARGV[2] then return 0 end
`

// retryScript: KEYS[1]=stream, KEYS[2]=retry zset, KEYS[3]=retry hash of
// this entry; ARGV: group, consumer, id, key, payload, first-seen, attempts,
// due ms, replay history.
var retryScript = newScript(ownerCheck + `
redis.call('HSET', KEYS[3], 'k', ARGV[4], 'p', ARGV[5], 't', ARGV[6], 'a', ARGV[7], 'h', ARGV[9] or '')
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
`)

// deadScript: KEYS[1]=stream, KEYS[2]=dead zset, KEYS[3]=dead hash of this
// entry; ARGV: group, consumer, id, key, payload, first-seen, attempts,
// error, failed-at ms, replay history.
var deadScript = newScript(ownerCheck + `
redis.call('HSET', KEYS[3], 'k', ARGV[4], 'p', ARGV[5], 't', ARGV[6], 'a', ARGV[7], 'e', ARGV[8], 'f', ARGV[9], 'h', ARGV[10] or '')
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
`)

// moveScript: KEYS[1]=retry zset, KEYS[2]=stream; ARGV: now ms, limit,
// retry hash prefix. Moves due retries back into the stream.
var moveScript = newScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local h = ARGV[3] .. id
  local v = redis.call('HMGET', h, 'k', 'p', 't', 'a', 'h')
  if v[2] then
    redis.call('XADD', KEYS[2], '*', 'k', v[1] or '', 'p', v[2], 't', v[3] or '0', 'a', v[4] or '0', 'h', v[5] or '')
  end
  redis.call('DEL', h)
  redis.call('ZREM', KEYS[1], id)
end
return #ids
`)

// replayScript: KEYS[1]=dead zset, KEYS[2]=dead hash, KEYS[3]=stream;
// ARGV: id, now ms, history (the earlier failures, this one included).
// Attempts and first-seen start over; the history goes with the message so
// that failing again says it is a replay, linked to what failed before.
var replayScript = newScript(`
local v = redis.call('HMGET', KEYS[2], 'k', 'p')
if not v[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('XADD', KEYS[3], '*', 'k', v[1] or '', 'p', v[2], 't', ARGV[2], 'a', '0', 'h', ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`)

type script struct{ src, sha string }

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(h[:])}
}

type scriptCall struct {
	s    *script
	keys []string
	args []any
}

// evalAll runs calls in one pipeline with EVALSHA, then repeats with EVAL
// those the server does not know yet (after a restart, on a new cluster
// node). A NOSCRIPT call did not run, so repeating it is safe. It returns
// each call's result and the first error.
func evalAll(ctx context.Context, c goredis.UniversalClient, calls []scriptCall) ([]any, error) {
	res := make([]any, len(calls))
	cmds := make([]*goredis.Cmd, len(calls))
	pipe := c.Pipeline()
	for i, call := range calls {
		cmds[i] = pipe.EvalSha(ctx, call.s.sha, call.keys, call.args...)
	}
	_, _ = pipe.Exec(ctx)
	var again []int
	for i, cmd := range cmds {
		if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe = c.Pipeline()
		for _, i := range again {
			cmds[i] = pipe.Eval(ctx, calls[i].s.src, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	var first error
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if err != nil && first == nil {
			first = err
		}
		res[i] = v
	}
	return res, first
}

// eval runs one script.
func eval(ctx context.Context, c goredis.UniversalClient, s *script, keys []string, args ...any) (any, error) {
	res, err := evalAll(ctx, c, []scriptCall{{s: s, keys: keys, args: args}})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
