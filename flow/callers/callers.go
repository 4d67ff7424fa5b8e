// Package callers finds the Salesforce records an inbound caller's number
// belongs to, for the Flex plugin's screen pop: the mapping's caller_lookup
// says which objects and phone fields to search and what label to show.
//
// Salesforce keeps phone numbers as typed, so one number has many spellings.
// The lookup asks SOQL for the spellings a department's data holds (the
// formats SPEC.md lists) and keeps only rows whose stored value is the same
// E.164 number. Results are cached briefly, under a hash of the number, so a
// ringing call and its screen pop cost one query.
package callers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/mapping"
)

// MaxRecords is the most matches one lookup answers.
const MaxRecords = 10

// CRM runs one SOQL query.
type CRM interface {
	Query(ctx context.Context, soql string) (salesforce.QueryPage, error)
}

// Store caches lookups.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Config wires the flow.
type Config struct {
	CRM      CRM
	Store    Store
	Mappings Mappings
	CacheTTL time.Duration // 0 = no cache
	Logger   *slog.Logger
}

// Flow answers caller lookups.
type Flow struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.CRM == nil || cfg.Store == nil || cfg.Mappings == nil {
		return nil, errors.New("callers: CRM, Store and Mappings are required")
	}
	f := &Flow{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Errors a lookup can end in; their kind gives the status. None echoes the number.
var (
	ErrInvalidPhone = fault.New(fault.Invalid, "the phone number is not a possible number (E.164 or a 10-digit US number)")
	ErrNotMapped    = fault.New(fault.Unavailable, "no caller_lookup mapping is configured")
	ErrUnavailable  = fault.New(fault.Unavailable, "Salesforce is unavailable; try again")
)

// Match is one record the caller may be.
type Match struct {
	RecordID string `json:"record_id"`
	Object   string `json:"object"`
	Label    string `json:"label"`
}

// Lookup returns up to MaxRecords records whose phone fields hold phone,
// in the mapping's object order; an empty (non-nil) list when none do.
func (f *Flow) Lookup(ctx context.Context, phone string) ([]Match, error) {
	e164, ok := mapping.E164(phone)
	if !ok {
		return nil, ErrInvalidPhone
	}
	cl := f.cfg.Mappings.Current().CallerLookup()
	if cl == nil {
		return nil, ErrNotMapped
	}
	sum := sha256.Sum256([]byte(e164))
	key := "callers:" + hex.EncodeToString(sum[:12]) + ":" + cl.Fingerprint()
	if f.cfg.CacheTTL > 0 {
		if raw, found, err := f.cfg.Store.Get(ctx, key); err == nil && found {
			var out []Match
			if json.Unmarshal([]byte(raw), &out) == nil && out != nil {
				return out, nil
			}
		}
	}
	out := []Match{}
	for _, obj := range cl.Objects() {
		if len(out) >= MaxRecords {
			break
		}
		ms, err := f.search(ctx, obj, e164, MaxRecords-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	if f.cfg.CacheTTL > 0 {
		raw, _ := json.Marshal(out)
		if err := f.cfg.Store.Set(ctx, key, string(raw), f.cfg.CacheTTL); err != nil {
			f.log.Warn("caller lookup not cached", "err", err)
		}
	}
	return out, nil
}

// search runs one object's query and keeps the rows that really match.
func (f *Flow) search(ctx context.Context, obj mapping.CallerObject, e164 string, limit int) ([]Match, error) {
	soql, err := Query(obj, e164, limit)
	if err != nil {
		return nil, err
	}
	page, err := f.cfg.CRM.Query(ctx, soql)
	if err != nil {
		f.log.Warn("caller lookup failed", "object", obj.Object(), "err", err)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var out []Match
	for _, rec := range page.Records {
		id, _ := rec["Id"].(string)
		if id == "" || !holds(rec, obj.PhoneFields(), e164) {
			continue
		}
		out = append(out, Match{RecordID: id, Object: obj.Object(), Label: obj.Label(mapping.Record(rec))})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// holds reports whether one of the phone fields is e164, however written.
func holds(rec salesforce.Record, fields []string, e164 string) bool {
	for _, f := range fields {
		if s, ok := rec[f].(string); ok {
			if n, ok := mapping.E164(s); ok && n == e164 {
				return true
			}
		}
	}
	return false
}

// Query builds the SOQL for one object: every phone field compared with
// every spelling of the number, values through QuoteSOQL only. It asks for
// a few rows more than limit because spellings Salesforce compares
// case-insensitively could, in odd data, match a different number.
func Query(obj mapping.CallerObject, e164 string, limit int) (string, error) {
	sel, err := salesforce.Select(obj.Object(), append([]string{"Id"}, obj.Fields()...))
	if err != nil {
		return "", err
	}
	quoted := make([]string, 0, 8)
	for _, s := range Spellings(e164) {
		quoted = append(quoted, salesforce.QuoteSOQL(s))
	}
	in := " IN (" + strings.Join(quoted, ", ") + ")"
	var conds []string
	for _, pf := range obj.PhoneFields() {
		conds = append(conds, pf+in)
	}
	return fmt.Sprintf("%s WHERE %s ORDER BY Id LIMIT %d", sel, strings.Join(conds, " OR "), limit+5), nil
}

// Spellings are the ways a number is commonly stored: E.164, and for North
// American numbers the national forms SPEC.md lists plus the 1-prefixed ones.
func Spellings(e164 string) []string {
	out := []string{e164}
	if len(e164) == 12 && strings.HasPrefix(e164, "+1") {
		d := e164[2:]
		a, b, c := d[:3], d[3:6], d[6:]
		out = append(out,
			"("+a+") "+b+"-"+c,
			a+"-"+b+"-"+c,
			a+" "+b+" "+c,
			d,
			"1"+d,
			"+1 "+a+" "+b+" "+c,
			"+1 ("+a+") "+b+"-"+c,
			"1-"+a+"-"+b+"-"+c,
			a+"."+b+"."+c,
		)
	} else {
		out = append(out, e164[1:])
	}
	return out
}
