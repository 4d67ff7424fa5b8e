package sfsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// object is one sObject type: its schema and its rows.
type object struct {
	name     string
	prefix   string
	fields   map[string]string // lower-case name -> API name; Salesforce names are case-insensitive
	readOnly map[string]bool   // API names
	required []string
	rows     map[string]map[string]any // 15-char id -> row (API field names)
	order    []string                  // 15-char ids in insertion order
}

// rowError is one entry of a Collections row's "errors".
type rowError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

var systemFields = []string{"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp"}

// defaultSchema covers the fields the bridge's sample mapping uses.
var defaultSchema = map[string][]string{
	"Contact": {"FirstName", "LastName", "Name", "Email", "Phone", "MobilePhone", "OwnerId", "AccountId",
		"Outreach_Status__c", "Priority__c", "Preferred_Language__c", "Case_Number__c",
		"Monitoring_Status__c", "Monitoring_Start__c", "SMS_Opt_Out__c", "Index_Case_Name__c",
		"Preferred_Time__c", "Preferred_Channel__c", "Elicitation_Status__c", "Elicitation_Key__c",
		"Last_Exposure_Date__c", "Household_Contact__c", "Source_Case__c"},
	"Task": {"WhoId", "WhatId", "OwnerId", "Subject", "Status", "Priority", "Type", "TaskSubtype", "Description",
		"ActivityDate", "CallType", "CallDisposition", "CallDurationInSeconds", "CallObject", "Twilio_Task_Sid__c"},
	"Symptom_Survey__c": {"Name", "Contact__c", "Survey_Date__c", "Survey_Key__c", "Fever__c", "Cough__c", "Other_Symptoms__c"},
	"Account":           {"Name", "Phone", "OwnerId"},
	"Lead":              {"FirstName", "LastName", "Name", "Company", "Phone", "MobilePhone", "Email", "Status"},
	"User":              {"Username", "FirstName", "LastName", "Name", "Email"},
}

var defaultRequired = map[string][]string{
	"Contact": {"LastName"},
	"Lead":    {"LastName", "Company"},
}

var standardPrefixes = map[string]string{
	"Account": "001", "Contact": "003", "User": "005", "Task": "00T", "Lead": "00Q", "Case": "500",
}

// nameComputed objects derive Name from FirstName and LastName.
var nameComputed = map[string]bool{"Contact": true, "Lead": true, "User": true}

func (s *Server) defineLocked(name string, fields []string) *object {
	o := s.objects[strings.ToLower(name)]
	if o == nil {
		prefix, ok := standardPrefixes[name]
		if !ok {
			prefix = customPrefix(s.customCount)
			s.customCount++
		}
		o = &object{
			name:     name,
			prefix:   prefix,
			fields:   map[string]string{},
			readOnly: map[string]bool{},
			rows:     map[string]map[string]any{},
		}
		for _, f := range systemFields {
			o.fields[strings.ToLower(f)] = f
			o.readOnly[f] = true
		}
		if nameComputed[name] {
			o.readOnly["Name"] = true
		}
		s.objects[strings.ToLower(name)] = o
	}
	for _, f := range fields {
		if _, ok := o.fields[strings.ToLower(f)]; !ok {
			o.fields[strings.ToLower(f)] = f
		}
	}
	return o
}

// customPrefix yields a0X, a0Y, a0Z, a10, ... for custom objects.
func customPrefix(n int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	v := 33 + n // "0X" in base 36
	return "a" + string(digits[(v/36)%36]) + string(digits[v%36])
}

func (s *Server) objectLocked(name string) *object {
	return s.objects[strings.ToLower(name)]
}

func (o *object) field(name string) (string, bool) {
	f, ok := o.fields[strings.ToLower(name)]
	return f, ok
}

// newIDLocked returns an 18-character id with the object's key prefix.
func (s *Server) newIDLocked(o *object) string {
	s.idSeq++
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [9]byte
	n := s.idSeq
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return To18(o.prefix + "5g0" + string(b[:]))
}

// To18 converts a 15-character Salesforce id to its 18-character form.
func To18(id string) string {
	if len(id) != 15 {
		return id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	suffix := make([]byte, 3)
	for i := 0; i < 3; i++ {
		flags := 0
		for j := 0; j < 5; j++ {
			c := id[i*5+j]
			if c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		suffix[i] = alphabet[flags]
	}
	return id + string(suffix)
}

func validID(id string) bool {
	if len(id) != 15 && len(id) != 18 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	// The checksum suffix is not checked, so seed data may use made-up 18-char ids.
	return true
}

func (o *object) row(id string) map[string]any {
	if !validID(id) {
		return nil
	}
	return o.rows[id[:15]]
}

// normalize gives values the shapes JSON decoding would (float64, string, bool, nil, maps, slices).
func normalize(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = json.Unmarshal(b, &out)
	return out, err
}

func copyRow(r map[string]any) map[string]any {
	out := make(map[string]any, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}

// validateLocked checks a write body against the schema and returns the row's errors.
func (s *Server) validateLocked(o *object, body map[string]any, existing map[string]any) []rowError {
	var errs []rowError
	for k := range body {
		if k == "attributes" {
			continue
		}
		f, ok := o.field(k)
		if !ok || s.rejected[strings.ToLower(o.name)+"."+strings.ToLower(k)] {
			errs = append(errs, rowError{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.name), []string{k}})
			continue
		}
		if o.readOnly[f] {
			errs = append(errs, rowError{"INVALID_FIELD_FOR_INSERT_UPDATE", fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f), []string{f}})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	var missing []string
	for _, req := range o.required {
		v, present := lookup(body, req)
		if existing == nil && (!present || v == nil || v == "") {
			missing = append(missing, req)
		}
		if existing != nil && present && (v == nil || v == "") {
			missing = append(missing, req)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, rowError{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + strings.Join(missing, ", ") + "]", missing})
	}
	return errs
}

// lookup finds a field in a body case-insensitively.
func lookup(body map[string]any, field string) (any, bool) {
	if v, ok := body[field]; ok {
		return v, true
	}
	for k, v := range body {
		if strings.EqualFold(k, field) {
			return v, true
		}
	}
	return nil, false
}

// applyLocked writes a validated body; existing nil means create. It returns the 18-char id.
func (s *Server) applyLocked(o *object, body map[string]any, existing map[string]any) string {
	now := s.now().UTC().Format("2006-01-02T15:04:05.000+0000")
	row := existing
	if row == nil {
		id := s.newIDLocked(o)
		row = map[string]any{"Id": id, "CreatedDate": now}
		o.rows[id[:15]] = row
		o.order = append(o.order, id[:15])
	}
	for k, v := range body {
		if k == "attributes" {
			continue
		}
		f, _ := o.field(k)
		row[f] = v
	}
	row["LastModifiedDate"] = now
	row["SystemModstamp"] = now
	if nameComputed[o.name] {
		var parts []string
		for _, f := range []string{"FirstName", "LastName"} {
			if v, ok := row[f].(string); ok && v != "" {
				parts = append(parts, v)
			}
		}
		row["Name"] = strings.Join(parts, " ")
	}
	return row["Id"].(string)
}

// matchExternal returns the rows whose extField equals value (case-insensitively, as Salesforce matches).
func (o *object) matchExternal(extField, value string) []map[string]any {
	var out []map[string]any
	for _, id := range o.order {
		r := o.rows[id]
		if extField == "Id" {
			if validID(value) && id == value[:15] {
				out = append(out, r)
			}
			continue
		}
		switch v := r[extField].(type) {
		case nil:
		case string:
			if strings.EqualFold(v, value) {
				out = append(out, r)
			}
		default:
			if strings.EqualFold(fmt.Sprint(v), value) {
				out = append(out, r)
			}
		}
	}
	return out
}

func (o *object) sortedFields() []string {
	out := make([]string, 0, len(o.fields))
	for _, f := range o.fields {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (s *Server) recordURL(version string, o *object, id string) string {
	return "/services/data/v" + version + "/sobjects/" + o.name + "/" + id
}

// project renders a row as the REST API does: attributes first, the chosen fields, null for unset.
func (s *Server) project(version string, o *object, r map[string]any, fields []string) map[string]any {
	out := map[string]any{"attributes": map[string]any{"type": o.name, "url": s.recordURL(version, o, r["Id"].(string))}}
	for _, f := range fields {
		out[f] = r[f]
	}
	return out
}
