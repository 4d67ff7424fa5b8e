package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrNotFound says a dead letter does not exist.
var ErrNotFound = errors.New("redis: not found")

// DeadLetter is a message that exhausted its retries or failed permanently.
type DeadLetter struct {
	ID        string // "<queue>:<stream entry id>"
	Queue     string
	Key       string
	Payload   []byte
	Error     string
	Attempts  int
	FirstSeen time.Time
	FailedAt  time.Time
	// History lists the earlier dead-letterings of this message, oldest
	// first, when it failed again after a replay; empty for a first failure.
	History []Failure
}

// Failure is one earlier dead-lettering of a replayed message.
type Failure struct {
	ID       string    `json:"id"` // the dead letter it was, gone since its replay
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
}

// ReplayOf is the dead letter this one was replayed from, "" for a first failure.
func (d DeadLetter) ReplayOf() string {
	if len(d.History) == 0 {
		return ""
	}
	return d.History[len(d.History)-1].ID
}

// maxHistory bounds what a message replayed over and over carries.
const maxHistory = 20

// DeadLetters reads and replays the dead letters of all queues. Each queue
// keeps its own (bridge:{NAME}:dead zset plus one hash per letter, in the
// queue's slot); the set bridge:queues names the queues to look in.
type DeadLetters struct {
	c goredis.UniversalClient
}

// NewDeadLetters returns a view over all queues' dead letters.
func NewDeadLetters(c goredis.UniversalClient) *DeadLetters { return &DeadLetters{c: c} }

func splitDeadID(id string) (queue, entryID string, err error) {
	queue, entryID, ok := strings.Cut(id, ":")
	if !ok || !nameRE.MatchString(queue) || entryID == "" {
		return "", "", fmt.Errorf("dead letter id %q: %w", id, ErrNotFound)
	}
	return queue, entryID, nil
}

// List returns up to limit dead letters across queues, newest first
// (limit <= 0 means 100).
func (d *DeadLetters) List(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	queues, err := d.c.SMembers(ctx, queuesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	pipe := d.c.Pipeline()
	idx := make([]*goredis.ZSliceCmd, len(queues))
	for i, name := range queues {
		idx[i] = pipe.ZRevRangeWithScores(ctx, keysFor(name).dead, 0, int64(limit-1))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	type ref struct {
		queue, id string
		at        float64
	}
	var refs []ref
	for i, cmd := range idx {
		for _, z := range cmd.Val() {
			refs = append(refs, ref{queue: queues[i], id: z.Member.(string), at: z.Score})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if c := cmp.Compare(b.at, a.at); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	refs = refs[:min(len(refs), limit)]
	pipe = d.c.Pipeline()
	hs := make([]*goredis.MapStringStringCmd, len(refs))
	for i, r := range refs {
		hs[i] = pipe.HGetAll(ctx, keysFor(r.queue).deadPrefix+r.id)
	}
	if len(refs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
	}
	out := make([]DeadLetter, 0, len(refs))
	for i, r := range refs {
		if len(hs[i].Val()) == 0 {
			continue // replayed meanwhile
		}
		out = append(out, deadFromHash(r.queue, r.id, hs[i].Val()))
	}
	return out, nil
}

// Get returns one dead letter, or ErrNotFound.
func (d *DeadLetters) Get(ctx context.Context, id string) (DeadLetter, error) {
	queue, entryID, err := splitDeadID(id)
	if err != nil {
		return DeadLetter{}, err
	}
	h, err := d.c.HGetAll(ctx, keysFor(queue).deadPrefix+entryID).Result()
	if err != nil {
		return DeadLetter{}, fmt.Errorf("get dead letter %s: %w", id, err)
	}
	if len(h) == 0 {
		return DeadLetter{}, fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
	}
	return deadFromHash(queue, entryID, h), nil
}

// Replay puts a dead letter back into its queue's stream with attempts and
// first-seen reset, bypassing the intake dedupe, and removes it from the
// dead letters. Letter and stream share the queue's slot, so the move is
// one atomic script: the message is replayed exactly once.
func (d *DeadLetters) Replay(ctx context.Context, id string) error {
	queue, entryID, err := splitDeadID(id)
	if err != nil {
		return err
	}
	dl, err := d.Get(ctx, id)
	if err != nil {
		return err
	}
	history := append(dl.History, Failure{ID: dl.ID, Error: dl.Error, Attempts: dl.Attempts, FailedAt: dl.FailedAt.UTC()})
	if len(history) > maxHistory {
		history = history[len(history)-maxHistory:]
	}
	h, err := json.Marshal(history)
	if err != nil {
		return fmt.Errorf("replay dead letter %s: %w", id, err)
	}
	k := keysFor(queue)
	// The script moves the letter only if it is still there: of two
	// concurrent replays, one requeues it and the other gets ErrNotFound.
	n, err := eval(ctx, d.c, replayScript, []string{k.dead, k.deadPrefix + entryID, k.stream},
		entryID, time.Now().UnixMilli(), string(h))
	if err != nil {
		return fmt.Errorf("replay dead letter %s: %w", id, err)
	}
	if n != int64(1) {
		return fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
	}
	return nil
}

// Delete discards a dead letter.
func (d *DeadLetters) Delete(ctx context.Context, id string) error {
	queue, entryID, err := splitDeadID(id)
	if err != nil {
		return err
	}
	k := keysFor(queue)
	pipe := d.c.TxPipeline()
	del := pipe.Del(ctx, k.deadPrefix+entryID)
	pipe.ZRem(ctx, k.dead, entryID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	if del.Val() == 0 {
		return fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
	}
	return nil
}

func deadFromHash(queue, entryID string, h map[string]string) DeadLetter {
	dl := DeadLetter{
		ID:      queue + ":" + entryID,
		Queue:   queue,
		Key:     h["k"],
		Payload: []byte(h["p"]),
		Error:   h["e"],
	}
	dl.Attempts, _ = strconv.Atoi(h["a"])
	if ms, err := strconv.ParseInt(h["t"], 10, 64); err == nil {
		dl.FirstSeen = time.UnixMilli(ms)
	}
	if ms, err := strconv.ParseInt(h["f"], 10, 64); err == nil {
		dl.FailedAt = time.UnixMilli(ms)
	}
	if raw := h["h"]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &dl.History) // written by Replay; a bad one reads as no history
	}
	return dl
}

// Purge deletes every dead letter, across queues, that match selects (the
// retention sweep drops those that carry a forgotten contact's data). It
// reads the letters in pages of 200, one round trip a page, and returns how
// many it deleted.
func (d *DeadLetters) Purge(ctx context.Context, match func(DeadLetter) bool) (int, error) {
	const page = 200
	queues, err := d.c.SMembers(ctx, queuesKey).Result()
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	n := 0
	for _, q := range queues {
		k := keysFor(q)
		for start := int64(0); ; {
			ids, err := d.c.ZRange(ctx, k.dead, start, start+page-1).Result()
			if err != nil {
				return n, fmt.Errorf("purge dead letters of %s: %w", q, err)
			}
			pipe := d.c.Pipeline()
			hs := make([]*goredis.MapStringStringCmd, len(ids))
			for i, id := range ids {
				hs[i] = pipe.HGetAll(ctx, k.deadPrefix+id)
			}
			if len(ids) > 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					return n, fmt.Errorf("purge dead letters of %s: %w", q, err)
				}
			}
			kept := 0
			for i, id := range ids {
				h := hs[i].Val()
				if len(h) == 0 || !match(deadFromHash(q, id, h)) {
					kept++
					continue
				}
				if err := d.Delete(ctx, q+":"+id); err != nil && !errors.Is(err, ErrNotFound) {
					return n, err
				}
				n++
			}
			if len(ids) < page {
				break
			}
			start += int64(kept) // deleted letters no longer take a rank
		}
	}
	return n, nil
}

// Forget deletes the dead letters that name a contact (its record id) or
// carry one of its numbers, when the bridge forgets the contact.
func (d *DeadLetters) Forget(ctx context.Context, contactID string, phones []string) error {
	needles := []string{contactID}
	for _, p := range phones {
		if p = strings.TrimSpace(p); p != "" {
			needles = append(needles, p)
		}
	}
	_, err := d.Purge(ctx, func(dl DeadLetter) bool {
		for _, n := range needles {
			if n != "" && (strings.Contains(string(dl.Payload), n) || strings.Contains(dl.Key, n)) {
				return true
			}
		}
		return false
	})
	return err
}
