package twiliosim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// expr is a parsed EvaluateTaskAttributes expression. The sim supports the
// subset the bridge needs: comparisons `path == literal`, `path != literal`,
// `path IN [literal, …]`, joined by `AND` / `OR` (AND binds tighter), with
// parentheses. Literals are quoted strings, numbers, true, false and null.
type expr interface {
	eval(attrs map[string]any) bool
}

type andExpr []expr
type orExpr []expr

type cmpExpr struct {
	path []string
	op   string // ==, !=, in
	vals []any
}

func (a andExpr) eval(m map[string]any) bool {
	for _, e := range a {
		if !e.eval(m) {
			return false
		}
	}
	return true
}

func (o orExpr) eval(m map[string]any) bool {
	for _, e := range o {
		if e.eval(m) {
			return true
		}
	}
	return false
}

func (c cmpExpr) eval(m map[string]any) bool {
	var cur any = m
	found := true
	for _, p := range c.path {
		mm, ok := cur.(map[string]any)
		if !ok {
			found = false
			break
		}
		if cur, ok = mm[p]; !ok {
			found = false
			break
		}
	}
	eq := false
	if found {
		for _, v := range c.vals {
			if equalJSON(cur, v) {
				eq = true
				break
			}
		}
	}
	if c.op == "!=" {
		return found && !eq
	}
	return eq
}

func equalJSON(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && fa == fb
	}
	return a == b
}

type token struct {
	kind string // ident, str, num, op, punct, kw
	text string
	val  any
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != s[i]; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			if c == '"' { // JSON escapes
				var v string
				if err := json.Unmarshal([]byte(s[i:j+1]), &v); err == nil {
					toks = append(toks, token{kind: "str", val: v})
					i = j + 1
					continue
				}
			}
			toks = append(toks, token{kind: "str", val: b.String()})
			i = j + 1
		case strings.HasPrefix(s[i:], "==") || strings.HasPrefix(s[i:], "!="):
			toks = append(toks, token{kind: "op", text: s[i : i+2]})
			i += 2
		case c == '=':
			toks = append(toks, token{kind: "op", text: "=="})
			i++
		case strings.ContainsRune("()[],", c):
			toks = append(toks, token{kind: "punct", text: string(c)})
			i++
		case c == '-' || unicode.IsDigit(c):
			j := i + 1
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.') {
				j++
			}
			f, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return nil, fmt.Errorf("bad number %q", s[i:j])
			}
			toks = append(toks, token{kind: "num", val: f})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || strings.ContainsRune("_.-", rune(s[j]))) {
				j++
			}
			w := s[i:j]
			// TaskRouter's expression syntax spells its operators in capitals
			// (AND, OR, IN: twilio.com/docs/taskrouter/expression-syntax); a
			// lowercase "and" is not an operator, so the expression is refused.
			switch w {
			case "AND", "OR", "IN":
				toks = append(toks, token{kind: "kw", text: strings.ToLower(w)})
			case "true":
				toks = append(toks, token{kind: "num", val: true})
			case "false":
				toks = append(toks, token{kind: "num", val: false})
			case "null":
				toks = append(toks, token{kind: "num", val: nil})
			default:
				toks = append(toks, token{kind: "ident", text: w})
			}
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
}

func parseExpr(s string) (expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected trailing input")
	}
	return e, nil
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) or() (expr, error) {
	var terms orExpr
	for {
		e, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
		if t, ok := p.peek(); !ok || t.kind != "kw" || t.text != "or" {
			break
		}
		p.pos++
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) and() (expr, error) {
	var terms andExpr
	for {
		e, err := p.primary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
		if t, ok := p.peek(); !ok || t.kind != "kw" || t.text != "and" {
			break
		}
		p.pos++
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) primary() (expr, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	if t.kind == "punct" && t.text == "(" {
		p.pos++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if t, ok := p.peek(); !ok || t.text != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return e, nil
	}
	if t.kind != "ident" {
		return nil, fmt.Errorf("expected an attribute path")
	}
	p.pos++
	c := cmpExpr{path: strings.Split(t.text, ".")}
	op, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("expected an operator after %s", t.text)
	}
	p.pos++
	switch {
	case op.kind == "op":
		c.op = op.text
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		c.vals = []any{v}
	case op.kind == "kw" && op.text == "in":
		c.op = "in"
		if t, ok := p.peek(); !ok || t.text != "[" {
			return nil, fmt.Errorf("expected [ after IN")
		}
		p.pos++
		for {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			c.vals = append(c.vals, v)
			t, ok := p.peek()
			if !ok {
				return nil, fmt.Errorf("missing ]")
			}
			p.pos++
			if t.text == "]" {
				break
			}
			if t.text != "," {
				return nil, fmt.Errorf("expected , or ]")
			}
		}
	default:
		return nil, fmt.Errorf("unsupported operator after %s", t.text)
	}
	return c, nil
}

func (p *parser) literal() (any, error) {
	t, ok := p.peek()
	if !ok || (t.kind != "str" && t.kind != "num") {
		return nil, fmt.Errorf("expected a literal")
	}
	p.pos++
	return t.val, nil
}
