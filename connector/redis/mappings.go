package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/mapping"
)

// Keys share the {mapping} hash tag so the save script is atomic on Cluster.
// Deployed data lives under these names: do not rename them.
const (
	keyMappingCurrent = "bridge:{mapping}:current" // version in force
	keyMappingNext    = "bridge:{mapping}:next"    // version counter
	keyMappingHistory = "bridge:{mapping}:history" // list of versions, newest first
	keyMappingVersion = "bridge:{mapping}:v:"      // + N: hash doc, who, at, summary
)

// ErrMappingConflict is a save whose If-Match version is no longer current.
var ErrMappingConflict = fault.New(fault.Conflict, "the mapping changed since the version you loaded; load it again and reapply your edits")

// ErrNoMappingVersion is a rollback or read of a version that does not exist.
var ErrNoMappingVersion = fault.New(fault.NotFound, "no such mapping version")

// MappingVersion is one stored mapping document.
type MappingVersion struct {
	Version int64     `json:"version"`
	Who     string    `json:"who"`
	At      time.Time `json:"at"`
	Summary string    `json:"summary"`
	Doc     []byte    `json:"-"`
}

// MappingStoreConfig wires the store.
type MappingStoreConfig struct {
	Redis    goredis.UniversalClient
	SeedFile string        // BRIDGE_MAPPING_FILE: the first version when Redis holds none
	Poll     time.Duration // how often Watch looks for a new version; default 1s
	// Protected (BRIDGE_PROTECTED_FIELDS) are protected in every version,
	// whatever its own list says; no save can lift them.
	Protected []string
	Logger    *slog.Logger
	Now       func() time.Time
}

// MappingStore keeps mapping versions in Redis and the compiled one in
// force: every version is validated before it is stored, kept with who and
// when, reversible, and in force on every instance within seconds (Watch).
type MappingStore struct {
	cfg    MappingStoreConfig
	log    *slog.Logger
	holder *mapping.Holder
	seed   []byte
}

// NewMappingStore reads and validates the seed file, if any, and starts
// with it in force (or with an empty mapping) until Load or Watch finds a
// stored one.
func NewMappingStore(cfg MappingStoreConfig) (*MappingStore, error) {
	if cfg.Redis == nil {
		return nil, errors.New("redis: MappingStoreConfig.Redis is required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &MappingStore{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	initial, err := s.Parse([]byte("{}"))
	if err != nil {
		return nil, fmt.Errorf("redis: empty mapping: %w", err)
	}
	if cfg.SeedFile != "" {
		raw, err := os.ReadFile(cfg.SeedFile)
		if err != nil {
			return nil, fmt.Errorf("BRIDGE_MAPPING_FILE: %w", err)
		}
		m, err := s.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("BRIDGE_MAPPING_FILE %s: %w", cfg.SeedFile, err)
		}
		s.seed, initial = raw, m
	}
	s.holder = mapping.NewHolder(initial, 0)
	return s, nil
}

// Parse validates and compiles doc as a save would, with the fields that
// are always protected.
func (s *MappingStore) Parse(doc []byte) (*mapping.Mapping, error) {
	return mapping.ParseProtected(doc, s.cfg.Protected)
}

// Validate lists what is wrong with doc as a save would see it, the
// always-protected fields included; nil when it would save.
func (s *MappingStore) Validate(doc []byte) mapping.Errors {
	return mapping.ValidateProtected(doc, s.cfg.Protected)
}

// Current is the compiled mapping in force on this instance.
func (s *MappingStore) Current() *mapping.Mapping { return s.holder.Current() }

// CurrentVersion is the stored version in force (0 before any is loaded).
func (s *MappingStore) CurrentVersion() int64 { return s.holder.Version() }

// mappingSaveScript stores a version atomically. KEYS: current, next, history;
// ARGV: ifMatch (0 = any; -1 = only when none exists), doc, who, at, summary,
// version key prefix. Returns the new version, 0 when seeding found one, or
// -1 on conflict.
var mappingSaveScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local ifMatch = tonumber(ARGV[1])
if ifMatch == -1 and cur ~= 0 then return 0 end
if ifMatch > 0 and cur ~= ifMatch then return -1 end
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', ARGV[6] .. v, 'doc', ARGV[2], 'who', ARGV[3], 'at', ARGV[4], 'summary', ARGV[5])
redis.call('SET', KEYS[1], v)
redis.call('LPUSH', KEYS[3], v)
return v
`)

// Save validates doc and stores it as the new version. ifMatch > 0 refuses
// the save with ErrMappingConflict unless that version is still current; ifMatch < 0
// refuses it unless no version is stored yet; 0 saves unconditionally (last
// writer wins). A bad document returns mapping.Errors and stores nothing.
// An empty summary is computed as a diff against the version it replaces.
func (s *MappingStore) Save(ctx context.Context, doc []byte, who, summary string, ifMatch int64) (int64, error) {
	m, err := s.Parse(doc)
	if err != nil {
		return 0, err
	}
	return s.store(ctx, m, doc, who, summary, "", ifMatch)
}

// maxSaveRaces bounds how often an unconditional save re-reads the version it
// replaces to keep its diff summary exact before it just overwrites.
const maxSaveRaces = 5

// store saves a parsed document. With an empty summary it diffs against the
// current version and saves on the condition that it is still current, so
// the summary describes exactly the change made.
func (s *MappingStore) store(ctx context.Context, m *mapping.Mapping, doc []byte, who, summary, prefix string, ifMatch int64) (int64, error) {
	var v int64
	for attempt := 0; ; attempt++ {
		sum, cond := summary, ifMatch
		if sum == "" {
			prev, err := s.Latest(ctx)
			switch {
			case errors.Is(err, ErrNoMappingVersion):
				prev = MappingVersion{}
			case err != nil:
				return 0, err
			}
			if (ifMatch > 0 && prev.Version != ifMatch) || (ifMatch < 0 && prev.Version != 0) {
				return 0, ErrMappingConflict
			}
			sum = prefix + mapping.Summarize(prev.Doc, doc)
			if ifMatch == 0 && attempt < maxSaveRaces {
				cond = prev.Version
				if cond == 0 {
					cond = -1
				}
			}
		}
		var err error
		v, err = s.save(ctx, doc, who, sum, cond)
		if v == 0 && err == nil {
			err = ErrMappingConflict // a version appeared while saving "only if none"
		}
		if errors.Is(err, ErrMappingConflict) && ifMatch == 0 && cond != 0 {
			continue // lost a race for the diff; last writer still wins
		}
		if err != nil {
			return 0, err
		}
		break
	}
	// A newer version may already be in force here via Watch.
	if v > s.holder.Version() {
		s.holder.Set(m, v)
	}
	s.log.Info("mapping saved", "version", v, "who", who)
	return v, nil
}

func (s *MappingStore) save(ctx context.Context, doc []byte, who, summary string, ifMatch int64) (int64, error) {
	v, err := mappingSaveScript.Run(ctx, s.cfg.Redis, []string{keyMappingCurrent, keyMappingNext, keyMappingHistory},
		ifMatch, doc, who, s.cfg.Now().UTC().Format(time.RFC3339Nano), summary, keyMappingVersion).Int64()
	if err != nil {
		return 0, fmt.Errorf("store mapping: %w", err)
	}
	if v == -1 {
		return 0, ErrMappingConflict
	}
	return v, nil
}

// Load brings the stored version in force, first seeding Redis from
// BRIDGE_MAPPING_FILE when it holds none (only one instance's seed wins).
func (s *MappingStore) Load(ctx context.Context) error {
	if s.seed != nil {
		v, err := s.save(ctx, s.seed, "BRIDGE_MAPPING_FILE", "seeded from "+s.cfg.SeedFile, -1)
		if err != nil {
			return err
		}
		if v > 0 {
			s.log.Info("mapping seeded from BRIDGE_MAPPING_FILE", "version", v)
		}
	}
	return s.refresh(ctx)
}

// refresh swaps in the current stored version if it is not in force yet.
func (s *MappingStore) refresh(ctx context.Context) error {
	raw, err := s.cfg.Redis.Get(ctx, keyMappingCurrent).Result()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read current mapping version: %w", err)
	}
	v, _ := strconv.ParseInt(raw, 10, 64)
	if v == s.holder.Version() {
		return nil
	}
	ver, err := s.Get(ctx, v)
	if err != nil {
		return err
	}
	m, err := s.Parse(ver.Doc)
	if err != nil {
		// Saved documents were valid; only a newer bridge's format lands here.
		return fmt.Errorf("mapping version %d does not compile here: %w", v, err)
	}
	s.holder.Set(m, v)
	s.log.Info("mapping version in force", "version", v)
	return nil
}

// Watch polls for new versions until ctx ends, so a save on any instance is
// in force everywhere within the poll interval.
func (s *MappingStore) Watch(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.refresh(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			s.log.Warn("mapping refresh failed", "err", err)
		}
		failing = err != nil
	}
}

// Latest reads the newest stored version, document included; ErrNoMappingVersion
// when none is stored. It reads Redis, so it can be ahead of Current.
func (s *MappingStore) Latest(ctx context.Context) (MappingVersion, error) {
	raw, err := s.cfg.Redis.Get(ctx, keyMappingCurrent).Result()
	if errors.Is(err, goredis.Nil) {
		return MappingVersion{}, ErrNoMappingVersion
	}
	if err != nil {
		return MappingVersion{}, fmt.Errorf("read current mapping version: %w", err)
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v <= 0 {
		return MappingVersion{}, fmt.Errorf("current mapping version %q is not a number", raw)
	}
	return s.Get(ctx, v)
}

// Get reads one stored version.
func (s *MappingStore) Get(ctx context.Context, v int64) (MappingVersion, error) {
	if v <= 0 {
		return MappingVersion{}, ErrNoMappingVersion
	}
	h, err := s.cfg.Redis.HGetAll(ctx, keyMappingVersion+strconv.FormatInt(v, 10)).Result()
	if err != nil {
		return MappingVersion{}, fmt.Errorf("read mapping version %d: %w", v, err)
	}
	if len(h) == 0 {
		return MappingVersion{}, ErrNoMappingVersion
	}
	at, _ := time.Parse(time.RFC3339Nano, h["at"])
	return MappingVersion{Version: v, Who: h["who"], At: at, Summary: h["summary"], Doc: []byte(h["doc"])}, nil
}

// History lists versions, newest first, without their documents.
func (s *MappingStore) History(ctx context.Context, limit int) ([]MappingVersion, error) {
	if limit <= 0 {
		limit = 100
	}
	ids, err := s.cfg.Redis.LRange(ctx, keyMappingHistory, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("read mapping history: %w", err)
	}
	// One round trip, and no documents: a hundred of them can be megabytes.
	pipe := s.cfg.Redis.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, keyMappingVersion+id, "who", "at", "summary")
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("read mapping history: %w", err)
		}
	}
	out := make([]MappingVersion, 0, len(ids))
	for i, id := range ids {
		v, _ := strconv.ParseInt(id, 10, 64)
		f := cmds[i].Val()
		str := func(x any) string { s, _ := x.(string); return s }
		at, _ := time.Parse(time.RFC3339Nano, str(f[1]))
		out = append(out, MappingVersion{Version: v, Who: str(f[0]), At: at, Summary: str(f[2])})
	}
	return out, nil
}

// Rollback stores version v again as a new version.
func (s *MappingStore) Rollback(ctx context.Context, v int64, who string) (int64, error) {
	old, err := s.Get(ctx, v)
	if err != nil {
		return 0, err
	}
	m, err := s.Parse(old.Doc)
	if err != nil {
		return 0, err
	}
	return s.store(ctx, m, old.Doc, who, "", fmt.Sprintf("rollback to version %d: ", v), 0)
}
