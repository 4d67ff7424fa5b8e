package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var (
	nameRe       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)
	idRe         = regexp.MustCompile(`^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$`)
	apiVersionRe = regexp.MustCompile(`^\d{2,3}\.\d$`)
)

// ValidName reports whether s is a Salesforce object or field API name (Contact, Survey_Key__c).
func ValidName(s string) bool { return nameRe.MatchString(s) }

// ValidID reports whether s has the shape of a 15- or 18-character record id.
func ValidID(s string) bool { return idRe.MatchString(s) }

func checkNames(names ...string) error {
	for _, n := range names {
		if !ValidName(n) {
			return fmt.Errorf("%w: %q", ErrInvalidName, n)
		}
	}
	return nil
}

// body copies fields for a request body without the keys the URL or the client sets.
func body(fields Record, drop ...string) map[string]any {
	out := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		if k == "attributes" || strings.EqualFold(k, "Id") {
			continue
		}
		skip := false
		for _, d := range drop {
			skip = skip || strings.EqualFold(k, d)
		}
		if !skip {
			out[k] = v
		}
	}
	return out
}

// strip removes the "attributes" entry Salesforce adds to every record.
func strip(r Record) Record {
	delete(r, "attributes")
	return r
}

// Get reads one record with the chosen fields (all fields when fields is empty).
// An unknown or malformed id gives an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, object, id string, fields []string) (Record, error) {
	if err := checkNames(append([]string{object}, fields...)...); err != nil {
		return nil, fmt.Errorf("get %s: %w", object, err)
	}
	if !ValidID(id) {
		return nil, fmt.Errorf("get %s: %w", object, &APIError{Status: http.StatusNotFound, Code: CodeMalformedID, Message: "malformed record id"})
	}
	var q url.Values
	if len(fields) > 0 {
		q = url.Values{"fields": {strings.Join(fields, ",")}}
	}
	var rec Record
	if _, err := c.do(ctx, call{op: "get", method: http.MethodGet, path: c.base + "/sobjects/" + object + "/" + id, query: q}, &rec); err != nil {
		return nil, fmt.Errorf("get %s %s: %w", object, id, err)
	}
	return strip(rec), nil
}

// Upsert creates or updates the record whose extField equals extValue. Created tells which.
// A value matching several records gives an *APIError with Status 300 and Code MULTIPLE_CHOICES.
func (c *Client) Upsert(ctx context.Context, object, extField, extValue string, fields Record) (RowResult, error) {
	if err := checkNames(object, extField); err != nil {
		return RowResult{}, fmt.Errorf("upsert %s: %w", object, err)
	}
	if extValue == "" || extValue == "." || extValue == ".." {
		return RowResult{}, fmt.Errorf("upsert %s: empty or relative external id", object)
	}
	path := c.base + "/sobjects/" + object + "/" + extField + "/" + url.PathEscape(extValue)
	var res RowResult
	status, err := c.do(ctx, call{op: "upsert", method: http.MethodPatch, path: path, body: body(fields, extField)}, &res)
	if err != nil {
		return RowResult{}, fmt.Errorf("upsert %s %s: %w", object, extField, err)
	}
	if status == http.StatusNoContent { // API versions before 46 answer an update with no body
		return RowResult{Success: true}, nil
	}
	res.Success = true
	res.Created = res.Created || status == http.StatusCreated
	return res, nil
}

// Update writes fields to one record.
func (c *Client) Update(ctx context.Context, object, id string, fields Record) error {
	if err := checkNames(object); err != nil {
		return fmt.Errorf("update %s: %w", object, err)
	}
	if !ValidID(id) {
		return fmt.Errorf("update %s: %w", object, &APIError{Status: http.StatusBadRequest, Code: CodeMalformedID, Message: "malformed record id"})
	}
	if _, err := c.do(ctx, call{op: "update", method: http.MethodPatch, path: c.base + "/sobjects/" + object + "/" + id, body: body(fields)}, nil); err != nil {
		return fmt.Errorf("update %s %s: %w", object, id, err)
	}
	return nil
}

// UpsertCollection upserts recs by extField through sObject Collections, 200 rows a call,
// allOrNone=false. Results are in input order; rows failing with UNABLE_TO_LOCK_ROW are
// re-sent alone a few times first. On error, results hold the rows of the calls that succeeded.
func (c *Client) UpsertCollection(ctx context.Context, object, extField string, recs []Record) ([]RowResult, error) {
	if err := checkNames(object, extField); err != nil {
		return nil, fmt.Errorf("upsert collection %s: %w", object, err)
	}
	attrs := map[string]any{"type": object}
	rows := make([]map[string]any, len(recs))
	for i, r := range recs {
		rows[i] = body(r)
		rows[i]["attributes"] = attrs
	}
	path := c.base + "/composite/sobjects/" + object + "/" + extField
	results := make([]RowResult, len(recs))
	if err := c.collection(ctx, "upsert_collection", path, rows, results); err != nil {
		return results, fmt.Errorf("upsert collection %s: %w", object, err)
	}
	return results, nil
}

// UpdateCollection updates recs through sObject Collections, 200 rows a call, allOrNone=false.
// Each record carries "Id" and "attributes": {"type": "Object"}. Results are in input order.
func (c *Client) UpdateCollection(ctx context.Context, recs []Record) ([]RowResult, error) {
	rows := make([]map[string]any, len(recs))
	for i, r := range recs {
		typ := recordType(r)
		if typ == "" {
			return nil, fmt.Errorf("update collection: record %d has no attributes.type", i)
		}
		id, _ := r["Id"].(string)
		rows[i] = body(r)
		rows[i]["attributes"] = map[string]any{"type": typ}
		if id != "" {
			rows[i]["Id"] = id
		}
	}
	results := make([]RowResult, len(recs))
	if err := c.collection(ctx, "update_collection", c.base+"/composite/sobjects", rows, results); err != nil {
		return results, fmt.Errorf("update collection: %w", err)
	}
	return results, nil
}

func recordType(r Record) string {
	switch a := r["attributes"].(type) {
	case map[string]any:
		s, _ := a["type"].(string)
		return s
	case map[string]string:
		return a["type"]
	}
	return ""
}

// collection sends rows in chunks of MaxCollection and fills results.
func (c *Client) collection(ctx context.Context, op, path string, rows []map[string]any, results []RowResult) error {
	for start := 0; start < len(rows); start += MaxCollection {
		idx := make([]int, 0, MaxCollection)
		for i := start; i < min(start+MaxCollection, len(rows)); i++ {
			idx = append(idx, i)
		}
		if err := c.collectionChunk(ctx, op, path, rows, idx, results); err != nil {
			return err
		}
	}
	return nil
}

// collectionChunk sends the rows at idx, then re-sends only the rows that hit UNABLE_TO_LOCK_ROW.
func (c *Client) collectionChunk(ctx context.Context, op, path string, rows []map[string]any, idx []int, results []RowResult) error {
	for attempt := 0; ; attempt++ {
		batch := make([]map[string]any, len(idx))
		for j, i := range idx {
			batch[j] = rows[i]
		}
		var out []RowResult
		if _, err := c.do(ctx, call{op: op, method: http.MethodPatch, path: path,
			body: map[string]any{"allOrNone": false, "records": batch}}, &out); err != nil {
			return err
		}
		if len(out) != len(idx) {
			return fmt.Errorf("answer has %d rows for %d records", len(out), len(idx))
		}
		var locked []int
		for j, i := range idx {
			results[i] = out[j]
			if !out[j].Success && out[j].locked() {
				locked = append(locked, i)
			}
		}
		if len(locked) == 0 || attempt+1 >= c.lockRetry.MaxAttempts {
			return nil
		}
		c.log.Debug("salesforce rows locked; re-sending", "operation", op, "rows", len(locked), "attempt", attempt+1)
		c.m.lockResends.Add(float64(len(locked)))
		if err := sleep(ctx, c.lockRetry.backoff(attempt)); err != nil {
			return err
		}
		idx = locked
	}
}
