package mapping

import (
	"strconv"
	"strings"
)

// FieldError is one problem in a mapping document. Path is dotted
// (`record_to_task.attributes.to.transform`, `survey_to_crm.questions[1].type`);
// it is empty for problems with the document as a whole. Line is the 1-based
// line in the source, 0 when unknown.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

// Error returns "path: message", the form `bridge mapping validate` prints.
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors is every problem found in a document, in line order.
type Errors []FieldError

func (e Errors) Error() string {
	switch len(e) {
	case 0:
		return "no errors"
	case 1:
		return e[0].Error()
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(e)))
	b.WriteString(" problems in mapping:")
	for _, fe := range e {
		b.WriteString("\n")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// RuleError fails one event: a required rule yielded nothing, or a survey
// answer was not acceptable. It names the rule and the field it reads, never
// the value, since values are personal data and errors get logged.
type RuleError struct {
	Path   string // the rule, e.g. click_to_call.attributes.to
	Field  string // the Salesforce field or event path the rule reads
	Reason string
}

func (e *RuleError) Error() string {
	s := e.Path + ": " + e.Reason
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	return s
}

// Permanent: the record (or the mapping) must change before a retry can pass.
func (e *RuleError) Permanent() bool { return true }
