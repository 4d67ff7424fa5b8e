package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// KV is a small string store for the flows (survey links, mapping
// versions, phone-to-contact lookups). Keys live under bridge:<namespace>:.
// A ttl of 0 means no expiry.
type KV struct {
	c      goredis.UniversalClient
	prefix string
}

// NewKV returns a store under bridge:<namespace>: (bridge: when namespace is
// empty).
func NewKV(c goredis.UniversalClient, namespace string) (*KV, error) {
	if c == nil {
		return nil, errors.New("redis: NewKV: nil client")
	}
	prefix := "bridge:"
	if namespace != "" {
		if !nameRE.MatchString(namespace) {
			return nil, fmt.Errorf("redis: kv namespace %q: want 1-64 of [A-Za-z0-9_.-]", namespace)
		}
		prefix += namespace + ":"
	}
	return &KV{c: c, prefix: prefix}, nil
}

// Key is the full Redis key for key.
func (kv *KV) Key(key string) string { return kv.prefix + key }

// Get returns the value and whether it was there.
func (kv *KV) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := kv.c.Get(ctx, kv.prefix+key).Result()
	if errors.Is(err, goredis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("kv get %s: %w", key, err)
	}
	return v, true, nil
}

// Set stores value.
func (kv *KV) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := kv.c.Set(ctx, kv.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("kv set %s: %w", key, err)
	}
	return nil
}

// SetNX stores value only if key is absent and reports whether it did.
func (kv *KV) SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	ok, err := kv.c.SetNX(ctx, kv.prefix+key, value, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("kv setnx %s: %w", key, err)
	}
	return ok, nil
}

// unlockScript deletes a lock only while it holds the releasing token.
var unlockScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock takes key for ttl under a random token and reports whether it did.
// release deletes the key only while it still holds that token: a holder
// that outlived its ttl never frees a newer holder's lock. Work under a
// lock must end before ttl does.
func (kv *KV) Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error) {
	tok := rand.Text()
	full := kv.prefix + key
	ok, err = kv.c.SetNX(ctx, full, tok, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("kv lock %s: %w", key, err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() { _, _ = eval(context.WithoutCancel(ctx), kv.c, unlockScript, []string{full}, tok) }, true, nil
}

// Del removes keys; absent keys are fine.
func (kv *KV) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	// One DEL per key: on Cluster the keys may live in different slots.
	pipe := kv.c.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, kv.prefix+k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("kv del: %w", err)
	}
	return nil
}

// ZAdd sets member's score in the sorted set key (no expiry).
func (kv *KV) ZAdd(ctx context.Context, key, member string, score float64) error {
	return kv.c.ZAdd(ctx, kv.Key(key), goredis.Z{Score: score, Member: member}).Err()
}

// ZRem removes members from the sorted set key.
func (kv *KV) ZRem(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	return kv.c.ZRem(ctx, kv.Key(key), args...).Err()
}

// ZDue lists up to limit members of the sorted set key scored at most max,
// lowest score first.
func (kv *KV) ZDue(ctx context.Context, key string, max float64, limit int64) ([]string, error) {
	return kv.c.ZRangeByScore(ctx, kv.Key(key), &goredis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprintf("%f", max), Count: limit,
	}).Result()
}

// ZCard is the number of members of the sorted set key.
func (kv *KV) ZCard(ctx context.Context, key string) (int64, error) {
	return kv.c.ZCard(ctx, kv.Key(key)).Result()
}

// HGet returns field of the hash key and whether it was there.
func (kv *KV) HGet(ctx context.Context, key, field string) (string, bool, error) {
	v, err := kv.c.HGet(ctx, kv.prefix+key, field).Result()
	if errors.Is(err, goredis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("kv hget %s: %w", key, err)
	}
	return v, true, nil
}

// HGetAll returns the hash key's fields (empty when it is absent).
func (kv *KV) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	m, err := kv.c.HGetAll(ctx, kv.prefix+key).Result()
	if err != nil {
		return nil, fmt.Errorf("kv hgetall %s: %w", key, err)
	}
	return m, nil
}

// hsetExpireScript and saddExpireScript write and (re)start the key's
// expiry together; a write Redis refuses (a key of another type) aborts the
// script before the expiry changes, which MULTI would not.
var (
	hsetExpireScript = newScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('PEXPIRE', KEYS[1], ARGV[3])
`)
	saddExpireScript = newScript(`
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`)
)

// HSet sets field of the hash key. A ttl above 0 (re)starts the whole
// hash's expiry with the write; 0 leaves its expiry as it was.
func (kv *KV) HSet(ctx context.Context, key, field, value string, ttl time.Duration) error {
	full := kv.prefix + key
	var err error
	if ttl > 0 {
		_, err = eval(ctx, kv.c, hsetExpireScript, []string{full}, field, value, ttl.Milliseconds())
	} else {
		err = kv.c.HSet(ctx, full, field, value).Err()
	}
	if err != nil {
		return fmt.Errorf("kv hset %s: %w", key, err)
	}
	return nil
}

// HDel removes fields of the hash key; absent ones are fine.
func (kv *KV) HDel(ctx context.Context, key string, fields ...string) error {
	if len(fields) == 0 {
		return nil
	}
	if err := kv.c.HDel(ctx, kv.prefix+key, fields...).Err(); err != nil {
		return fmt.Errorf("kv hdel %s: %w", key, err)
	}
	return nil
}

// SAdd adds member to the set key. A ttl above 0 (re)starts the set's
// expiry with the write; 0 leaves its expiry as it was.
func (kv *KV) SAdd(ctx context.Context, key, member string, ttl time.Duration) error {
	full := kv.prefix + key
	var err error
	if ttl > 0 {
		_, err = eval(ctx, kv.c, saddExpireScript, []string{full}, member, ttl.Milliseconds())
	} else {
		err = kv.c.SAdd(ctx, full, member).Err()
	}
	if err != nil {
		return fmt.Errorf("kv sadd %s: %w", key, err)
	}
	return nil
}

// SMembers lists the set key (empty when it is absent).
func (kv *KV) SMembers(ctx context.Context, key string) ([]string, error) {
	m, err := kv.c.SMembers(ctx, kv.prefix+key).Result()
	if err != nil {
		return nil, fmt.Errorf("kv smembers %s: %w", key, err)
	}
	return m, nil
}

// A recency set is a sorted set whose scores only order its members: the
// last pushed is first. The scripts keep that order without a clock, so
// instances with skewed clocks agree.
var (
	zpushTopScript = newScript(`
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local score = 1
if top[2] then score = tonumber(top[2]) + 1 end
redis.call('ZADD', KEYS[1], score, ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)
	// zimportJSONScript checks the whole list before it writes: Redis does
	// not undo a script's writes when it fails halfway.
	zimportJSONScript = newScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, ids = pcall(cjson.decode, raw)
if not ok or type(ids) ~= 'table' or not raw:match('^%s*%[') then
  return redis.error_reply('ERR ' .. KEYS[1] .. ' is not a JSON list of strings')
end
local n = 0
for _ in pairs(ids) do n = n + 1 end
if n ~= #ids then return redis.error_reply('ERR ' .. KEYS[1] .. ' is not a JSON list of strings') end
for _, id in ipairs(ids) do
  if type(id) ~= 'string' then return redis.error_reply('ERR ' .. KEYS[1] .. ' is not a JSON list of strings') end
end
local pttl = redis.call('PTTL', KEYS[1])
local existed = redis.call('EXISTS', KEYS[2]) == 1
local low = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local base = 0
if low[2] then base = tonumber(low[2]) end
for i, id in ipairs(ids) do
  redis.call('ZADD', KEYS[2], 'NX', base - i, id)
end
redis.call('DEL', KEYS[1])
if pttl > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local cur = redis.call('PTTL', KEYS[2])
  if (cur == -1 and not existed) or (cur > 0 and cur < pttl) then
    redis.call('PEXPIRE', KEYS[2], pttl)
  end
end
return n
`)
)

// ZPushTop puts member first in the recency set key (a score above every
// other member's). A ttl above 0 (re)starts the set's expiry with the
// write; 0 leaves it as it was.
func (kv *KV) ZPushTop(ctx context.Context, key, member string, ttl time.Duration) error {
	if _, err := eval(ctx, kv.c, zpushTopScript, []string{kv.Key(key)}, member, ttl.Milliseconds()); err != nil {
		return fmt.Errorf("kv zpushtop %s: %w", key, err)
	}
	return nil
}

// ZRevMembers lists the sorted set key, highest score first (empty when
// it is absent).
func (kv *KV) ZRevMembers(ctx context.Context, key string) ([]string, error) {
	m, err := kv.c.ZRevRange(ctx, kv.Key(key), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("kv zrevrange %s: %w", key, err)
	}
	return m, nil
}

// ZImportJSON moves the JSON list of strings at from (first = most
// recent) into the recency set to, below its members and in the list's
// order, then deletes from; members to already holds keep their place. The
// set keeps the longer of the two expiries. Atomic, so two instances
// importing at once, or an import racing a ZRem, neither duplicate nor
// bring back a member; an absent from does nothing. Not a JSON list of
// strings: an error, and nothing changes. On Cluster both keys must share
// a slot (see Key).
func (kv *KV) ZImportJSON(ctx context.Context, from, to string) error {
	if _, err := eval(ctx, kv.c, zimportJSONScript, []string{kv.Key(from), kv.Key(to)}); err != nil {
		return fmt.Errorf("kv zimportjson %s: %w", from, err)
	}
	return nil
}
