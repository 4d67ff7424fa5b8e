package sfsim

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The SOQL subset:
//
//	SELECT f1, f2 | COUNT() FROM Obj
//	  [WHERE cond {AND|OR cond}]   -- AND and OR don't mix without parentheses, as in Salesforce
//	  [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]
//
// cond: f = v, f != v, f <> v, f < v, f <= v, f > v, f >= v, f LIKE 'x%', f [NOT] IN (v, ...),
// NOT cond, (cond). v: 'string', number, true, false, null, or a bare date/datetime literal.
//
// Phone fields are text as typed: SOQL compares the stored string, so
// "(718) 555-0199" matches only that spelling (SOQL and SOSL Reference,
// "Comparison Operators"; only SOSL's IN PHONE FIELDS normalises numbers).

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string // identifiers and operators as written; strings unescaped
	pos  int
}

type soqlError struct {
	code string // MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE
	msg  string
}

func (e *soqlError) Error() string { return e.code + ": " + e.msg }

func malformed(format string, args ...any) error {
	return &soqlError{"MALFORMED_QUERY", fmt.Sprintf(format, args...)}
}

func lex(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '=':
			toks = append(toks, token{tOp, "=", i})
			i++
		case c == '!' || c == '<' || c == '>':
			op := string(c)
			if i+1 < len(q) && (q[i+1] == '=' || c == '<' && q[i+1] == '>') {
				op += string(q[i+1])
			}
			if op == "!" {
				return nil, malformed("unexpected token: '!' at column %d", i+1)
			}
			toks = append(toks, token{tOp, op, i})
			i += len(op)
		case c == '\'':
			s, n, err := lexString(q[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s, i})
			i += n
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || strings.ContainsRune(".-:TZ+", rune(q[j]))) {
				j++
			}
			toks = append(toks, token{tNumber, q[i:j], i})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(q) && (q[j] == '_' || q[j] == '.' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			toks = append(toks, token{tIdent, q[i:j], i})
			i = j
		default:
			return nil, malformed("unexpected character at column %d", i+1)
		}
	}
	return append(toks, token{tEOF, "", len(q)}), nil
}

// lexString reads a quoted literal starting at s[0] == '\” and returns its value and length.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch c {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, malformed("unterminated string literal")
			}
			e := s[i+1]
			switch e {
			case 'n', 'N':
				b.WriteByte('\n')
			case 'r', 'R':
				b.WriteByte('\r')
			case 't', 'T':
				b.WriteByte('\t')
			case 'b', 'B':
				b.WriteByte('\b')
			case 'f', 'F':
				b.WriteByte('\f')
			case '"', '\'', '\\':
				b.WriteByte(e)
			case '%':
				b.WriteRune(litPercent)
			case '_':
				b.WriteRune(litUnderscore)
			default:
				// SOQL knows only \n \r \t \b \f \" \' \\ (and \_ \% for LIKE):
				// "Any other character following a backslash is interpreted as
				// an error" (SOQL and SOSL Reference, Quoted String Escape
				// Sequences). There is no \uXXXX.
				return "", 0, malformed("Invalid string literal: illegal escape sequence \\%c", e)
			}
			i += 2
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return "", 0, malformed("unterminated string literal")
}

type orderKey struct {
	field      string
	desc       bool
	nullsFirst bool
}

type query struct {
	object  *object
	fields  []string
	count   bool
	where   expr
	order   []orderKey
	limit   int // -1 = none
	offset  int
	version string
}

type expr interface {
	eval(row map[string]any) bool
}

type logic struct {
	and   bool
	terms []expr
}

func (l logic) eval(r map[string]any) bool {
	for _, t := range l.terms {
		v := t.eval(r)
		if l.and && !v {
			return false
		}
		if !l.and && v {
			return true
		}
	}
	return l.and
}

type not struct{ e expr }

func (n not) eval(r map[string]any) bool { return !n.e.eval(r) }

type cond struct {
	field  string
	op     string // = != < <= > >= LIKE IN NOTIN
	values []any  // literal values; nil means null
}

func (c cond) eval(r map[string]any) bool {
	v := r[c.field]
	eq := equalValue
	if c.field == "Id" || strings.HasSuffix(c.field, "Id") {
		eq = func(v, lit any) bool {
			if eq, ok := idEqual(v, lit); ok {
				return eq
			}
			return equalValue(v, lit)
		}
	}
	switch c.op {
	case "=":
		return eq(v, c.values[0])
	case "!=":
		return !eq(v, c.values[0])
	case "IN", "NOTIN":
		in := false
		for _, lit := range c.values {
			if eq(v, lit) {
				in = true
				break
			}
		}
		return in == (c.op == "IN")
	case "LIKE":
		s, ok := v.(string)
		return ok && like(strings.ToLower(s), strings.ToLower(c.values[0].(string)))
	default:
		if v == nil || c.values[0] == nil {
			return false
		}
		n := compare(v, c.values[0])
		switch c.op {
		case "<":
			return n < 0
		case "<=":
			return n <= 0
		case ">":
			return n > 0
		default:
			return n >= 0
		}
	}
}

// equalValue compares as SOQL does: text case-insensitively, numbers numerically, null only to null.
func equalValue(v, lit any) bool {
	if lit == nil || v == nil {
		return lit == nil && v == nil
	}
	switch l := lit.(type) {
	case string:
		if s, ok := v.(string); ok {
			return strings.EqualFold(s, unescapeLike(l))
		}
		return strings.EqualFold(fmt.Sprint(v), unescapeLike(l))
	case float64:
		f, ok := v.(float64)
		return ok && f == l
	case bool:
		b, ok := v.(bool)
		return ok && b == l
	}
	return false
}

func compare(v, lit any) int {
	if f, ok := v.(float64); ok {
		if l, ok := lit.(float64); ok {
			switch {
			case f < l:
				return -1
			case f > l:
				return 1
			}
			return 0
		}
	}
	l := fmt.Sprint(lit)
	if s, ok := lit.(string); ok {
		l = unescapeLike(s)
	}
	return strings.Compare(strings.ToLower(fmt.Sprint(v)), strings.ToLower(l))
}

// The lexer turns \% and \_ into these private-use runes so LIKE can tell them from wildcards.
const (
	litPercent    = '\uE000'
	litUnderscore = '\uE001'
)

func unescapeLike(s string) string {
	return strings.NewReplacer(string(litPercent), "%", string(litUnderscore), "_").Replace(s)
}

// like matches a LIKE pattern: % any run, _ one character.
func like(s, pat string) bool {
	if pat == "" {
		return s == ""
	}
	p, pn := utf8.DecodeRuneInString(pat)
	switch p {
	case '%':
		for i := 0; i <= len(s); i++ {
			if like(s[i:], pat[pn:]) {
				return true
			}
		}
		return false
	case '_':
		if s == "" {
			return false
		}
		_, n := utf8.DecodeRuneInString(s)
		return like(s[n:], pat[pn:])
	case litPercent:
		p = '%'
	case litUnderscore:
		p = '_'
	}
	r, n := utf8.DecodeRuneInString(s)
	return s != "" && r == p && like(s[n:], pat[pn:])
}

type parser struct {
	toks []token
	i    int
	s    *Server
	q    *query
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) keyword(kw string) bool {
	t := p.peek()
	if t.kind == tIdent && strings.EqualFold(t.text, kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKeyword(kw string) error {
	if !p.keyword(kw) {
		return p.unexpected()
	}
	return nil
}

func (p *parser) unexpected() error {
	t := p.peek()
	if t.kind == tEOF {
		return malformed("unexpected end of query")
	}
	return malformed("unexpected token at column %d", t.pos+1)
}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "and": true, "or": true, "not": true,
	"order": true, "by": true, "limit": true, "offset": true, "in": true, "like": true, "null": true, "asc": true, "desc": true}

// parseSOQL needs the server lock held (it resolves the object and fields).
func (s *Server) parseSOQL(q string) (*query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, s: s, q: &query{limit: -1}}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	var names []string
	if p.keyword("COUNT") {
		if p.next().kind != tLParen || p.next().kind != tRParen {
			return nil, malformed("COUNT() takes no field")
		}
		p.q.count = true
	} else {
		for {
			t := p.next()
			if t.kind != tIdent || reserved[strings.ToLower(t.text)] {
				p.i--
				return nil, p.unexpected()
			}
			names = append(names, t.text)
			if p.peek().kind != tComma {
				break
			}
			p.i++
		}
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	t := p.next()
	if t.kind != tIdent {
		p.i--
		return nil, p.unexpected()
	}
	p.q.object = s.objectLocked(t.text)
	if p.q.object == nil {
		return nil, &soqlError{"INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", t.text)}
	}
	for _, n := range names {
		f, err := p.field(n)
		if err != nil {
			return nil, err
		}
		p.q.fields = append(p.q.fields, f)
	}
	if p.keyword("WHERE") {
		if p.q.where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if p.keyword("ORDER") {
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			t := p.next()
			if t.kind != tIdent {
				p.i--
				return nil, p.unexpected()
			}
			f, err := p.field(t.text)
			if err != nil {
				return nil, err
			}
			k := orderKey{field: f}
			if p.keyword("DESC") {
				k.desc = true
			} else {
				p.keyword("ASC")
			}
			k.nullsFirst = !k.desc
			if p.keyword("NULLS") {
				switch {
				case p.keyword("FIRST"):
					k.nullsFirst = true
				case p.keyword("LAST"):
					k.nullsFirst = false
				default:
					return nil, p.unexpected()
				}
			}
			p.q.order = append(p.q.order, k)
			if p.peek().kind != tComma {
				break
			}
			p.i++
		}
	}
	if p.keyword("LIMIT") {
		if p.q.limit, err = p.integer(); err != nil {
			return nil, err
		}
	}
	if p.keyword("OFFSET") {
		if p.q.offset, err = p.integer(); err != nil {
			return nil, err
		}
	}
	if p.peek().kind != tEOF {
		return nil, p.unexpected()
	}
	return p.q, nil
}

func (p *parser) integer() (int, error) {
	t := p.next()
	n, err := strconv.Atoi(t.text)
	if t.kind != tNumber || err != nil || n < 0 {
		p.i--
		return 0, p.unexpected()
	}
	return n, nil
}

func (p *parser) field(name string) (string, error) {
	if strings.Contains(name, ".") {
		return "", &soqlError{"INVALID_FIELD", fmt.Sprintf("Didn't understand relationship '%s' in field path.", name)}
	}
	f, ok := p.q.object.field(name)
	if !ok {
		return "", &soqlError{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'.", name, p.q.object.name)}
	}
	return f, nil
}

func (p *parser) expr() (expr, error) {
	first, err := p.term()
	if err != nil {
		return nil, err
	}
	l := logic{terms: []expr{first}}
	op := ""
	for {
		var this string
		switch {
		case p.keyword("AND"):
			this = "AND"
		case p.keyword("OR"):
			this = "OR"
		default:
			if len(l.terms) == 1 {
				return first, nil
			}
			return l, nil
		}
		if op != "" && op != this {
			return nil, malformed("unexpected token: '%s' (use parentheses to mix AND and OR)", this)
		}
		op = this
		l.and = op == "AND"
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		l.terms = append(l.terms, t)
	}
}

func (p *parser) term() (expr, error) {
	if p.keyword("NOT") {
		e, err := p.term()
		return not{e}, err
	}
	if p.peek().kind == tLParen {
		p.i++
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			p.i--
			return nil, p.unexpected()
		}
		return e, nil
	}
	t := p.next()
	if t.kind != tIdent || reserved[strings.ToLower(t.text)] {
		p.i--
		return nil, p.unexpected()
	}
	f, err := p.field(t.text)
	if err != nil {
		return nil, err
	}
	c := cond{field: f}
	switch {
	case p.keyword("LIKE"):
		c.op = "LIKE"
		v := p.next()
		if v.kind != tString {
			p.i--
			return nil, p.unexpected()
		}
		c.values = []any{v.text}
		return c, nil
	case p.keyword("NOT"):
		if err := p.expectKeyword("IN"); err != nil {
			return nil, err
		}
		c.op = "NOTIN"
	case p.keyword("IN"):
		c.op = "IN"
	default:
		op := p.next()
		if op.kind != tOp {
			p.i--
			return nil, p.unexpected()
		}
		c.op = op.text
		if c.op == "<>" {
			c.op = "!="
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if v == nil && c.op != "=" && c.op != "!=" {
			return nil, malformed("null can only be compared with = or !=")
		}
		c.values = []any{v}
		return c, nil
	}
	if p.next().kind != tLParen {
		p.i--
		return nil, p.unexpected()
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		c.values = append(c.values, v)
		t := p.next()
		if t.kind == tRParen {
			return c, nil
		}
		if t.kind != tComma {
			p.i--
			return nil, p.unexpected()
		}
	}
}

func (p *parser) value() (any, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return t.text, nil
	case tNumber:
		if n, err := strconv.ParseFloat(t.text, 64); err == nil {
			return n, nil
		}
		return t.text, nil // date or datetime literal
	case tIdent:
		switch strings.ToLower(t.text) {
		case "null":
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	p.i--
	return nil, p.unexpected()
}

// run evaluates the query over the object's rows.
func (q *query) run() []map[string]any {
	var rows []map[string]any
	for _, id := range q.object.order {
		r := q.object.rows[id]
		if q.where == nil || q.where.eval(r) {
			rows = append(rows, r)
		}
	}
	if len(q.order) > 0 {
		sort.SliceStable(rows, func(i, j int) bool {
			for _, k := range q.order {
				a, b := rows[i][k.field], rows[j][k.field]
				if a == nil || b == nil {
					if (a == nil) == (b == nil) {
						continue
					}
					return (a == nil) == k.nullsFirst
				}
				c := compare(a, b)
				if c == 0 {
					continue
				}
				return (c < 0) != k.desc
			}
			return false
		})
	}
	if q.offset > 0 {
		if q.offset >= len(rows) {
			rows = nil
		} else {
			rows = rows[q.offset:]
		}
	}
	if q.limit >= 0 && q.limit < len(rows) {
		rows = rows[:q.limit]
	}
	return rows
}

var errBadCursor = errors.New("invalid query locator")

// idEqual compares record ids as Salesforce does: case-sensitively on the 15-character form.
func idEqual(v, lit any) (eq, ok bool) {
	a, aok := v.(string)
	b, bok := lit.(string)
	if !aok || !bok || !validID(a) || !validID(b) {
		return false, false
	}
	return a[:15] == b[:15], true
}
