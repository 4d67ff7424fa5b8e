package world

import (
	"bytes"
	_ "embed"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/test/redistest"
)

// storeMapping is the SPEC's sample mapping, the document the mapping
// store's and the admin API's tests save, edit and roll back.
//
//go:embed testdata/store-mapping.yaml
var storeMapping []byte

// StoreMapping returns a fresh copy of the sample mapping document.
func StoreMapping(tb testing.TB) []byte {
	tb.Helper()
	return bytes.Clone(storeMapping)
}

// MustMappingStore builds a mapping version store on rdb.
func MustMappingStore(tb testing.TB, rdb goredis.UniversalClient, mut ...func(*redis.MappingStoreConfig)) *redis.MappingStore {
	tb.Helper()
	cfg := redis.MappingStoreConfig{Redis: rdb}
	for _, m := range mut {
		m(&cfg)
	}
	s, err := redis.NewMappingStore(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// EditDoc replaces old (which must occur) in doc.
func EditDoc(tb testing.TB, doc []byte, old, repl string) []byte {
	tb.Helper()
	if !bytes.Contains(doc, []byte(old)) {
		tb.Fatalf("edit: %q not in document", old)
	}
	return bytes.Replace(doc, []byte(old), []byte(repl), 1)
}

// MustPrivateRedis starts a redis-server of the test's own: the mapping
// store's keys are fixed, so its tests cannot share one.
func MustPrivateRedis(tb testing.TB) (*redistest.Server, *goredis.Client) {
	tb.Helper()
	srv := redistest.Start(tb)
	return srv, srv.Client(tb)
}

// Eventually polls cond until it holds or the wait runs out. It waits for
// asynchronous work; it is not a timing assertion.
func Eventually(tb testing.TB, wait time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s waiting for %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
