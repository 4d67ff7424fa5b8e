// Package memkv is an in-memory stand-in for connector/redis.KV in unit
// tests of the flows, where Redis behaviour is not what is tested (the e2e
// and connector tests run a real redis-server). TTLs are ignored.
package memkv

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Store is a goroutine-safe map; its zero value is ready to use.
type Store struct {
	mu   sync.Mutex
	m    map[string]string
	z    map[string]map[string]float64 // sorted sets
	sets int
}

// errWrongType is Redis's answer to a string command on a sorted set and
// the reverse (https://redis.io/docs/latest/commands/get/).
var errWrongType = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")

func (s *Store) Get(_ context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.z[key]; ok {
		return "", false, errWrongType
	}
	v, ok := s.m[key]
	return v, ok, nil
}

func (s *Store) Set(_ context.Context, key, value string, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, value)
	s.sets++
	return nil
}

func (s *Store) SetNX(_ context.Context, key, value string, _ time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exists(key) {
		return false, nil
	}
	s.put(key, value)
	return true, nil
}

func (s *Store) Del(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.m, k)
		delete(s.z, k)
	}
	return nil
}

// Put seeds a key without counting it as a write.
func (s *Store) Put(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, value)
}

// Sets counts Set calls (e.g. checkpoint writes).
func (s *Store) Sets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets
}

func (s *Store) put(key, value string) {
	if s.m == nil {
		s.m = map[string]string{}
	}
	delete(s.z, key) // SET replaces a key of any type
	s.m[key] = value
}

func (s *Store) exists(key string) bool {
	_, str := s.m[key]
	_, z := s.z[key]
	return str || z
}

// Lock takes key under a random token, as connector/redis.KV.Lock does:
// release deletes it only while it holds that token (the TTL is ignored).
func (s *Store) Lock(_ context.Context, key string, _ time.Duration) (func(), bool, error) {
	tok := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exists(key) {
		return nil, false, nil
	}
	s.put(key, tok)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.m[key] == tok {
			delete(s.m, key)
		}
	}, true, nil
}

// zset returns the sorted set at key, made when create is set; a string
// there is errWrongType.
func (s *Store) zset(key string, create bool) (map[string]float64, error) {
	if _, ok := s.m[key]; ok {
		return nil, errWrongType
	}
	z := s.z[key]
	if z == nil && create {
		if s.z == nil {
			s.z = map[string]map[string]float64{}
		}
		z = map[string]float64{}
		s.z[key] = z
	}
	return z, nil
}

// byScoreDesc lists z highest score first; ties in reverse member order,
// as ZREVRANGE does.
func byScoreDesc(z map[string]float64) []string {
	return slices.SortedFunc(maps.Keys(z), func(a, b string) int {
		if c := cmp.Compare(z[b], z[a]); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
}

// ZPushTop puts member first, as connector/redis.KV.ZPushTop does.
func (s *Store) ZPushTop(_ context.Context, key, member string, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, err := s.zset(key, true)
	if err != nil {
		return err
	}
	score := 1.0
	if ms := byScoreDesc(z); len(ms) > 0 {
		score = z[ms[0]] + 1
	}
	z[member] = score
	return nil
}

// ZRem removes members; an emptied set is deleted, as in Redis.
func (s *Store) ZRem(_ context.Context, key string, members ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, err := s.zset(key, false)
	if err != nil {
		return err
	}
	for _, m := range members {
		delete(z, m)
	}
	if z != nil && len(z) == 0 {
		delete(s.z, key)
	}
	return nil
}

// ZRevMembers lists the set highest score first.
func (s *Store) ZRevMembers(_ context.Context, key string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, err := s.zset(key, false)
	if err != nil {
		return nil, err
	}
	return byScoreDesc(z), nil
}

// ZImportJSON moves a JSON list at from into the set to, as
// connector/redis.KV.ZImportJSON does.
func (s *Store) ZImportJSON(_ context.Context, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.z[from]; ok {
		return errWrongType
	}
	raw, ok := s.m[from]
	if !ok {
		return nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(raw), &ids); err != nil || ids == nil {
		return fmt.Errorf("%s is not a JSON list of strings", from)
	}
	z, err := s.zset(to, false)
	if err != nil {
		return err
	}
	base := 0.0
	if ms := byScoreDesc(z); len(ms) > 0 {
		base = z[ms[len(ms)-1]]
	}
	for i, id := range ids {
		if _, held := z[id]; held {
			continue
		}
		if z == nil {
			z, _ = s.zset(to, true)
		}
		z[id] = base - float64(i+1)
	}
	delete(s.m, from)
	return nil
}

// Key is key: memkv has no namespace (connector/redis.KV.Key prefixes one).
func (s *Store) Key(key string) string { return key }
