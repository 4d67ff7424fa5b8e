// Package memkv is an in-memory stand-in for connector/redis.KV in unit
// tests of the flows, where Redis behaviour is not what is tested (the e2e
// and connector tests run a real redis-server). TTLs are ignored.
package memkv

import (
	"context"
	"crypto/rand"
	"sync"
	"time"
)

// Store is a goroutine-safe map; its zero value is ready to use.
type Store struct {
	mu   sync.Mutex
	m    map[string]string
	sets int
}

func (s *Store) Get(_ context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if _, ok := s.m[key]; ok {
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
	s.m[key] = value
}

// Lock takes key under a random token, as connector/redis.KV.Lock does:
// release deletes it only while it holds that token (the TTL is ignored).
func (s *Store) Lock(_ context.Context, key string, _ time.Duration) (func(), bool, error) {
	tok := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok {
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
