package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// QueryPage is one batch of a SOQL answer.
type QueryPage struct {
	TotalSize      int      `json:"totalSize"`
	Done           bool     `json:"done"`
	NextRecordsURL string   `json:"nextRecordsUrl"`
	Records        []Record `json:"records"`
}

// nextRe admits only the query locators Salesforce hands out, so a page URL can't
// send the token to another host or path.
var nextRe = regexp.MustCompile(`^/services/data/v\d{2,3}\.\d/(?:query|queryAll)/[A-Za-z0-9]+-\d+$`)

// Query runs soql and returns its first page. Build soql with Select and QuoteSOQL.
func (c *Client) Query(ctx context.Context, soql string) (QueryPage, error) {
	var p QueryPage
	if _, err := c.do(ctx, call{op: "query", method: http.MethodGet, path: c.base + "/query", query: url.Values{"q": {soql}}}, &p); err != nil {
		return QueryPage{}, fmt.Errorf("query: %w", err)
	}
	return p.stripped(), nil
}

// QueryMore fetches the page at a NextRecordsURL.
func (c *Client) QueryMore(ctx context.Context, nextRecordsURL string) (QueryPage, error) {
	if !nextRe.MatchString(nextRecordsURL) {
		return QueryPage{}, errors.New("query more: not a query locator URL")
	}
	var p QueryPage
	if _, err := c.do(ctx, call{op: "query_more", method: http.MethodGet, path: nextRecordsURL}, &p); err != nil {
		return QueryPage{}, fmt.Errorf("query more: %w", err)
	}
	return p.stripped(), nil
}

// QueryAll runs soql and calls fn with each page's records until the last page or fn's error.
func (c *Client) QueryAll(ctx context.Context, soql string, fn func([]Record) error) error {
	p, err := c.Query(ctx, soql)
	for {
		if err != nil {
			return err
		}
		if err := fn(p.Records); err != nil {
			return err
		}
		if p.Done || p.NextRecordsURL == "" {
			return nil
		}
		p, err = c.QueryMore(ctx, p.NextRecordsURL)
	}
}

func (p QueryPage) stripped() QueryPage {
	for _, r := range p.Records {
		strip(r)
	}
	return p
}

var soqlEscaper = strings.NewReplacer(
	`\`, `\\`,
	`'`, `\'`,
	`"`, `\"`,
	"\n", `\n`,
	"\r", `\r`,
	"\t", `\t`,
	"\b", `\b`,
	"\f", `\f`,
)

// QuoteSOQL is the only way a value enters SOQL: it returns s as a quoted string literal
// with backslash and quotes escaped, so s cannot end the literal. SOQL has only the
// escapes \n \r \t \b \f \" \' \\ ("any other character following a backslash is
// an error"; there is no \uXXXX), so the other control characters, which no
// Salesforce value of ours holds, are dropped.
func QuoteSOQL(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range soqlEscaper.Replace(s) {
		if r < 0x20 || r == 0x7f {
			continue
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// QuoteSOQLLike is QuoteSOQL for a LIKE pattern taken literally: % and _ are escaped too.
func QuoteSOQLLike(s string) string {
	q := QuoteSOQL(s)
	return strings.NewReplacer(`%`, `\%`, `_`, `\_`).Replace(q)
}

// Select builds "SELECT f1, f2 FROM object" from checked names; callers append
// " WHERE Field = " + QuoteSOQL(value).
func Select(object string, fields []string) (string, error) {
	if len(fields) == 0 {
		fields = []string{"Id"}
	}
	if err := checkNames(append([]string{object}, fields...)...); err != nil {
		return "", fmt.Errorf("select %s: %w", object, err)
	}
	return "SELECT " + strings.Join(fields, ", ") + " FROM " + object, nil
}
