package sfsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxCollection is the sObject Collections row limit.
const maxCollection = 200

var versionRe = regexp.MustCompile(`^v\d{2,3}\.\d$`)

type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	writeJSON(w, status, []apiError{{Message: msg, ErrorCode: code, Fields: fields}})
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
}

func methodNotAllowed(w http.ResponseWriter, method string, allowed ...string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", method, strings.Join(allowed, ",")))
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency, outage := s.latency, s.outage
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	path := r.URL.EscapedPath()
	if path == "/services/oauth2/token" {
		if outage {
			s.tokenCalls.Add(1)
			writeError(w, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Service Unavailable")
			return
		}
		s.serveToken(w, r)
		return
	}
	rest, ok := strings.CutPrefix(path, "/services/data")
	if !ok {
		notFound(w)
		return
	}
	var segs []string
	for _, p := range strings.Split(strings.Trim(rest, "/"), "/") {
		if p == "" {
			continue
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			notFound(w)
			return
		}
		segs = append(segs, u)
	}

	n := s.apiCalls.Add(1)
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", n, s.opts.DailyLimit))
	s.mu.Lock()
	if len(segs) > 0 {
		s.pathCalls[r.Method+" /"+strings.Join(segs[1:], "/")]++
	}
	var f *fault
	if !outage && len(s.faults) > 0 {
		s.faults[0].n--
		cp := s.faults[0]
		f = &cp
		if s.faults[0].n <= 0 {
			s.faults = s.faults[1:]
		}
	}
	s.mu.Unlock()

	switch {
	case outage:
		writeError(w, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Service Unavailable")
		return
	case f != nil:
		writeError(w, f.status, f.code, faultMessage(f.code))
		return
	case n > int64(s.opts.DailyLimit):
		writeError(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	if len(segs) == 0 {
		writeJSON(w, http.StatusOK, []map[string]string{{"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}})
		return
	}
	if !versionRe.MatchString(segs[0]) {
		notFound(w)
		return
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	s.route(w, r, segs[0][1:], segs[1:])
}

func faultMessage(code string) string {
	switch code {
	case "REQUEST_LIMIT_EXCEEDED":
		return "ConcurrentPerOrgLongTxn Limit exceeded."
	case "SERVER_UNAVAILABLE":
		return "Service Unavailable"
	}
	return "injected fault"
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(r.Header.Get("Authorization"), "OAuth ")
	}
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[tok]
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, version string, segs []string) {
	switch {
	case len(segs) == 1 && segs[0] == "limits":
		used := s.apiCalls.Load()
		writeJSON(w, http.StatusOK, map[string]any{"DailyApiRequests": map[string]int64{
			"Max": int64(s.opts.DailyLimit), "Remaining": max(0, int64(s.opts.DailyLimit)-used)}})
	case (len(segs) == 1 || len(segs) == 2) && (segs[0] == "query" || segs[0] == "queryAll"):
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r.Method, "GET", "HEAD")
			return
		}
		if len(segs) == 1 {
			s.query(w, r, version, segs[0])
		} else {
			s.queryMore(w, version, segs[0], segs[1])
		}
	case len(segs) == 2 && segs[0] == "sobjects":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r.Method, "GET", "POST")
			return
		}
		s.create(w, r, version, segs[1])
	case len(segs) == 3 && segs[0] == "sobjects":
		switch r.Method {
		case http.MethodGet:
			s.get(w, r, version, segs[1], segs[2])
		case http.MethodPatch:
			s.update(w, r, segs[1], segs[2])
		case http.MethodDelete:
			s.delete(w, segs[1], segs[2])
		default:
			methodNotAllowed(w, r.Method, "GET", "PATCH", "DELETE")
		}
	case len(segs) == 4 && segs[0] == "sobjects":
		switch r.Method {
		case http.MethodGet:
			s.getByExternal(w, r, version, segs[1], segs[2], segs[3])
		case http.MethodPatch:
			s.upsert(w, r, version, segs[1], segs[2], segs[3])
		default:
			methodNotAllowed(w, r.Method, "GET", "PATCH")
		}
	case len(segs) == 2 && segs[0] == "composite" && segs[1] == "sobjects":
		switch r.Method {
		case http.MethodPost:
			s.collection(w, r, "create", "", "")
		case http.MethodPatch:
			s.collection(w, r, "update", "", "")
		default:
			methodNotAllowed(w, r.Method, "POST", "PATCH")
		}
	case len(segs) == 4 && segs[0] == "composite" && segs[1] == "sobjects":
		if r.Method != http.MethodPatch {
			methodNotAllowed(w, r.Method, "PATCH")
			return
		}
		s.collection(w, r, "upsert", segs[2], segs[3])
	default:
		notFound(w)
	}
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid JSON")
		return false
	}
	return true
}

func writeRowErrors(w http.ResponseWriter, errs []rowError) {
	out := make([]apiError, len(errs))
	for i, e := range errs {
		out[i] = apiError{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}
	}
	writeJSON(w, http.StatusBadRequest, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, version, objName, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(objName)
	if o == nil {
		notFound(w)
		return
	}
	row := o.row(id)
	if row == nil {
		notFound(w)
		return
	}
	fields, ok := s.fieldList(w, o, r.URL.Query().Get("fields"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.project(version, o, row, fields))
}

// fieldList resolves ?fields=a,b (all fields when empty) and answers INVALID_FIELD itself.
func (s *Server) fieldList(w http.ResponseWriter, o *object, list string) ([]string, bool) {
	if list == "" {
		return o.sortedFields(), true
	}
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		f, ok := o.field(n)
		if !ok {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", n, o.name))
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}

func (s *Server) getByExternal(w http.ResponseWriter, r *http.Request, version, objName, extName, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(objName)
	if o == nil {
		notFound(w)
		return
	}
	ext, ok := o.field(extName)
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+extName)
		return
	}
	rows := o.matchExternal(ext, value)
	switch len(rows) {
	case 0:
		notFound(w)
	case 1:
		fields, ok := s.fieldList(w, o, r.URL.Query().Get("fields"))
		if ok {
			writeJSON(w, http.StatusOK, s.project(version, o, rows[0], fields))
		}
	default:
		s.multipleChoices(w, version, o, rows)
	}
}

func (s *Server) multipleChoices(w http.ResponseWriter, version string, o *object, rows []map[string]any) {
	urls := make([]string, len(rows))
	for i, r := range rows {
		urls[i] = s.recordURL(version, o, r["Id"].(string))
	}
	writeJSON(w, http.StatusMultipleChoices, urls)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, _ string, objName string) {
	var body map[string]any
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.flushOutboundLocked()
	o := s.objectLocked(objName)
	if o == nil {
		notFound(w)
		return
	}
	if _, has := lookup(body, "Id"); has {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", "Id")
		return
	}
	if errs := s.validateLocked(o, body, nil); len(errs) > 0 {
		writeRowErrors(w, errs)
		return
	}
	id := s.applyLocked(o, body, nil)
	s.insertedLocked(o, id)
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "success": true, "errors": []any{}})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, objName, id string) {
	var body map[string]any
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(objName)
	if o == nil {
		notFound(w)
		return
	}
	row := o.row(id)
	if row == nil {
		notFound(w)
		return
	}
	if errs := s.writeRowLocked(o, body, row, row["Id"].(string)); len(errs) > 0 {
		writeRowErrors(w, errs)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) delete(w http.ResponseWriter, objName, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objectLocked(objName)
	if o == nil || o.row(id) == nil {
		notFound(w)
		return
	}
	delete(o.rows, id[:15])
	for i, k := range o.order {
		if k == id[:15] {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeRowLocked validates and applies an update of an existing row; Id in the body must match.
func (s *Server) writeRowLocked(o *object, body, row map[string]any, lockKeys ...string) []rowError {
	if v, has := lookup(body, "Id"); has {
		if sv, _ := v.(string); !validID(sv) || sv[:15] != row["Id"].(string)[:15] {
			return []rowError{{"INVALID_FIELD_FOR_INSERT_UPDATE", "Id in the body does not match the record", []string{"Id"}}}
		}
		body = withoutID(body)
	}
	if s.lockedLocked(lockKeys...) {
		return []rowError{lockError(row["Id"].(string))}
	}
	if errs := s.validateLocked(o, body, row); len(errs) > 0 {
		return errs
	}
	s.applyLocked(o, body, row)
	return nil
}

func withoutID(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		if !strings.EqualFold(k, "Id") {
			out[k] = v
		}
	}
	return out
}

// upsertResult is one upsert outcome; status is the single-record HTTP status.
type upsertResult struct {
	id      string
	created bool
	errs    []rowError
	status  int
	matches []map[string]any
}

// upsertLocked upserts one body by ext = value.
func (s *Server) upsertLocked(o *object, ext, value string, body map[string]any) upsertResult {
	if v, has := lookup(body, ext); has && fmt.Sprint(v) != value {
		return upsertResult{status: http.StatusBadRequest, errs: []rowError{{"INVALID_FIELD",
			"The value of the external ID field in the body doesn't match the URL", []string{ext}}}}
	}
	rows := o.matchExternal(ext, value)
	switch len(rows) {
	case 0:
		if ext == "Id" {
			return upsertResult{status: http.StatusNotFound, errs: []rowError{{"NOT_FOUND", "The requested resource does not exist", nil}}}
		}
		if s.lockedLocked(value) {
			return upsertResult{status: http.StatusBadRequest, errs: []rowError{lockError(value)}}
		}
		nb := copyRow(body)
		if _, has := lookup(nb, ext); !has {
			nb[ext] = value
		}
		if errs := s.validateLocked(o, nb, nil); len(errs) > 0 {
			return upsertResult{status: http.StatusBadRequest, errs: errs}
		}
		id := s.applyLocked(o, nb, nil)
		s.insertedLocked(o, id)
		return upsertResult{id: id, created: true, status: http.StatusCreated}
	case 1:
		id := rows[0]["Id"].(string)
		if errs := s.writeRowLocked(o, body, rows[0], value, id); len(errs) > 0 {
			return upsertResult{id: id, status: http.StatusBadRequest, errs: errs}
		}
		return upsertResult{id: id, status: http.StatusOK}
	default:
		return upsertResult{status: http.StatusMultipleChoices, matches: rows, errs: []rowError{{"DUPLICATE_EXTERNAL_ID",
			fmt.Sprintf("%s: more than one record found for external id field: %d matches", ext, len(rows)), []string{ext}}}}
	}
}

func (s *Server) upsert(w http.ResponseWriter, r *http.Request, version, objName, extName, value string) {
	var body map[string]any
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.flushOutboundLocked()
	o := s.objectLocked(objName)
	if o == nil {
		notFound(w)
		return
	}
	ext, ok := o.field(extName)
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+extName)
		return
	}
	res := s.upsertLocked(o, ext, value, body)
	switch {
	case res.status == http.StatusMultipleChoices:
		s.multipleChoices(w, version, o, res.matches)
	case len(res.errs) > 0 && res.status == http.StatusNotFound:
		notFound(w)
	case len(res.errs) > 0:
		writeRowErrors(w, res.errs)
	default:
		writeJSON(w, res.status, map[string]any{"id": res.id, "success": true, "errors": []any{}, "created": res.created})
	}
}

type collectionBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

type rowResult struct {
	ID      string     `json:"id,omitempty"`
	Success bool       `json:"success"`
	Created *bool      `json:"created,omitempty"`
	Errors  []rowError `json:"errors"`
}

// collection serves sObject Collections create (POST), update (PATCH) and upsert (PATCH …/{obj}/{ext}).
func (s *Server) collection(w http.ResponseWriter, r *http.Request, op, objName, extName string) {
	var body collectionBody
	if !readBody(w, r, &body) {
		return
	}
	if body.Records == nil {
		writeError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "records is required")
		return
	}
	if len(body.Records) > maxCollection {
		writeError(w, http.StatusBadRequest, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.flushOutboundLocked()
	var (
		o   *object
		ext string
	)
	if op == "upsert" {
		if o = s.objectLocked(objName); o == nil {
			notFound(w)
			return
		}
		var ok bool
		if ext, ok = o.field(extName); !ok {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", "Provided external ID field does not exist or is not accessible: "+extName, extName)
			return
		}
	}
	if status, code, msg := s.checkCollectionLocked(o, body.Records); status != 0 {
		writeError(w, status, code, msg)
		return
	}
	var snapshot map[*object]objectState
	if body.AllOrNone {
		snapshot = s.snapshotLocked()
	}
	seen := map[string]int{}
	if op == "upsert" {
		for _, rec := range body.Records {
			if v, ok := lookup(rec, ext); ok && v != nil {
				seen[strings.ToLower(fmt.Sprint(v))]++
			}
		}
	}
	results := make([]rowResult, len(body.Records))
	failed := false
	for i, rec := range body.Records {
		results[i] = s.collectionRowLocked(op, o, ext, rec, seen)
		failed = failed || !results[i].Success
	}
	if body.AllOrNone && failed {
		s.restoreLocked(snapshot)
		s.rollbackOutboundLocked()
		for i := range results {
			if results[i].Success {
				results[i] = rowResult{Errors: []rowError{{"ALL_OR_NONE_OPERATION_ROLLED_BACK",
					"Record rolled back because not all records were valid and the request was using AllOrNone header", []string{}}}}
			}
		}
	}
	writeJSON(w, http.StatusOK, results)
}

// checkCollectionLocked refuses the whole request, as Salesforce does, when
// any row names a field the object does not have (or the user may not see)
// or carries a value of the wrong JSON type: the body is deserialised
// against the object before any row is looked at, so one bad row fails
// every row with a single 400 (INVALID_FIELD: "No such column 'X' on
// sobject of type T"; JSON_PARSER_ERROR: "Cannot deserialize instance of
// boolean from VALUE_STRING value …"), not with a row error. Salesforce's
// message names no field list; the value it quotes stays out of ours.
func (s *Server) checkCollectionLocked(o *object, recs []map[string]any) (status int, code, msg string) {
	for _, rec := range recs {
		obj := o
		if obj == nil { // create/update: each row names its type
			attrs, _ := rec["attributes"].(map[string]any)
			typ, _ := attrs["type"].(string)
			if obj = s.objectLocked(typ); obj == nil {
				continue // a row error (INVALID_TYPE) later
			}
		}
		names := make([]string, 0, len(rec))
		for k := range rec {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if k == "attributes" {
				continue
			}
			f, ok := obj.field(k)
			if !ok || s.rejected[strings.ToLower(obj.name)+"."+strings.ToLower(k)] {
				return http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, obj.name)
			}
			if kind := fieldKinds[obj.name+"."+f]; kind != "" && !fitsKind(kind, rec[k]) {
				return http.StatusBadRequest, "JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from %s value or request may be missing a required field", kind, jsonKind(rec[k]))
			}
		}
	}
	return 0, "", ""
}

// fieldKinds are the types of the built-in fields that are not text.
var fieldKinds = map[string]string{
	"Task.CallDurationInSeconds":       "int",
	"Task.ActivityDate":                "date",
	"Contact.Priority__c":              "double",
	"Contact.SMS_Opt_Out__c":           "boolean",
	"Contact.Monitoring_Start__c":      "date",
	"Symptom_Survey__c.Fever__c":       "boolean",
	"Symptom_Survey__c.Cough__c":       "boolean",
	"Symptom_Survey__c.Survey_Date__c": "date",
}

// fitsKind: JSON null always; numbers and booleans as JSON values or as
// text Salesforce can read as one; dates as YYYY-MM-DD text.
func fitsKind(kind string, v any) bool {
	if v == nil {
		return true
	}
	switch kind {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return true
		case string:
			return strings.EqualFold(x, "true") || strings.EqualFold(x, "false")
		}
		return false
	case "int", "double":
		switch x := v.(type) {
		case float64:
			return kind == "double" || x == float64(int64(x))
		case json.Number:
			return true
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			return err == nil && (kind == "double" || f == float64(int64(f)))
		}
		return false
	case "date":
		x, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse("2006-01-02", x)
		return err == nil
	}
	return true
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "VALUE_STRING"
	case bool:
		return "VALUE_TRUE"
	case float64, json.Number:
		return "VALUE_NUMBER"
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	}
	return "VALUE"
}

func (s *Server) collectionRowLocked(op string, o *object, ext string, rec map[string]any, seen map[string]int) rowResult {
	fail := func(errs ...rowError) rowResult { return rowResult{Errors: errs} }
	typ := ""
	if attrs, ok := rec["attributes"].(map[string]any); ok {
		typ, _ = attrs["type"].(string)
	}
	switch op {
	case "upsert":
		if typ != "" && !strings.EqualFold(typ, o.name) {
			return fail(rowError{"INVALID_TYPE", "attributes.type doesn't match the URL's sObject", []string{}})
		}
		v, ok := lookup(rec, ext)
		if !ok || v == nil || v == "" {
			return fail(rowError{"MISSING_ARGUMENT", ext + " not specified", []string{ext}})
		}
		value := fmt.Sprint(v)
		if seen[strings.ToLower(value)] > 1 {
			return fail(rowError{"DUPLICATE_EXTERNAL_ID", "Duplicate external id specified: " + value, []string{ext}})
		}
		res := s.upsertLocked(o, ext, value, rec)
		created := res.created
		if len(res.errs) > 0 {
			return rowResult{Errors: res.errs}
		}
		return rowResult{ID: res.id, Success: true, Created: &created, Errors: []rowError{}}
	default:
		if typ == "" {
			return fail(rowError{"INVALID_TYPE", "Must send a concrete entity type.", []string{}})
		}
		obj := s.objectLocked(typ)
		if obj == nil {
			return fail(rowError{"INVALID_TYPE", "sObject type '" + typ + "' is not supported.", []string{}})
		}
		if op == "create" {
			if _, has := lookup(rec, "Id"); has {
				return fail(rowError{"INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", []string{"Id"}})
			}
			if errs := s.validateLocked(obj, rec, nil); len(errs) > 0 {
				return fail(errs...)
			}
			id := s.applyLocked(obj, rec, nil)
			s.insertedLocked(obj, id)
			return rowResult{ID: id, Success: true, Errors: []rowError{}}
		}
		v, _ := lookup(rec, "Id")
		id, _ := v.(string)
		if id == "" {
			return fail(rowError{"MISSING_ARGUMENT", "Id not specified in an update call", []string{"Id"}})
		}
		if !validID(id) {
			return fail(rowError{"MALFORMED_ID", "malformed id " + id, []string{"Id"}})
		}
		row := obj.row(id)
		if row == nil {
			return rowResult{ID: id, Errors: []rowError{{"ENTITY_IS_DELETED", "entity is deleted", []string{}}}}
		}
		if errs := s.writeRowLocked(obj, rec, row, row["Id"].(string)); len(errs) > 0 {
			return rowResult{ID: row["Id"].(string), Errors: errs}
		}
		return rowResult{ID: row["Id"].(string), Success: true, Errors: []rowError{}}
	}
}

type objectState struct {
	rows  map[string]map[string]any
	order []string
}

// snapshotLocked copies every object's rows so an allOrNone request can roll back.
func (s *Server) snapshotLocked() map[*object]objectState {
	out := map[*object]objectState{}
	for _, o := range s.objects {
		st := objectState{rows: make(map[string]map[string]any, len(o.rows)), order: append([]string(nil), o.order...)}
		for k, r := range o.rows {
			st.rows[k] = copyRow(r)
		}
		out[o] = st
	}
	return out
}

func (s *Server) restoreLocked(snap map[*object]objectState) {
	for o, st := range snap {
		o.rows, o.order = st.rows, st.order
	}
}

type queryAnswer struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl,omitempty"`
	Records        []map[string]any `json:"records"`
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, version, kind string) {
	q := r.URL.Query().Get("q")
	if strings.TrimSpace(q) == "" {
		writeError(w, http.StatusBadRequest, "MALFORMED_QUERY", "A query string has to be specified")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pq, err := s.parseSOQL(q)
	if err != nil {
		var se *soqlError
		if errors.As(err, &se) {
			writeError(w, http.StatusBadRequest, se.code, se.msg)
			return
		}
		writeError(w, http.StatusBadRequest, "MALFORMED_QUERY", "malformed query")
		return
	}
	rows := pq.run()
	if pq.count {
		writeJSON(w, http.StatusOK, queryAnswer{TotalSize: len(rows), Done: true, Records: []map[string]any{}})
		return
	}
	all := make([]map[string]any, len(rows))
	for i, row := range rows {
		all[i] = s.project(version, pq.object, row, pq.fields)
	}
	s.cursorSeq++
	cursor := fmt.Sprintf("01g5g%010dAAA", s.cursorSeq)
	s.cursors[cursor] = all
	writeJSON(w, http.StatusOK, s.pageLocked(version, kind, cursor, 0))
}

func (s *Server) pageLocked(version, kind, cursor string, offset int) queryAnswer {
	all := s.cursors[cursor]
	end := min(offset+s.pageSize, len(all))
	ans := queryAnswer{TotalSize: len(all), Done: end >= len(all), Records: all[offset:end]}
	if ans.Records == nil {
		ans.Records = []map[string]any{}
	}
	if ans.Done {
		delete(s.cursors, cursor)
	} else {
		ans.NextRecordsURL = fmt.Sprintf("/services/data/v%s/%s/%s-%d", version, kind, cursor, end)
	}
	return ans
}

func (s *Server) queryMore(w http.ResponseWriter, version, kind, locator string) {
	cursor, off, ok := strings.Cut(locator, "-")
	offset, err := strconv.Atoi(off)
	s.mu.Lock()
	defer s.mu.Unlock()
	all, known := s.cursors[cursor]
	if !ok || err != nil || !known || offset < 0 || offset > len(all) {
		writeError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", errBadCursor.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.pageLocked(version, kind, cursor, offset))
}
