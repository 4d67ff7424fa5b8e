package mapping

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// A transform turns one scalar into another; ok=false means the value could
// not be transformed, which the rule treats as "nothing" so that `default`
// and `required` apply.
type transformFunc func(v any) (any, bool)

// transforms is immutable after package initialisation.
var transforms = map[string]transformFunc{
	"e164":  toE164,
	"lower": func(v any) (any, bool) { return stringOp(v, strings.ToLower) },
	"upper": func(v any) (any, bool) { return stringOp(v, strings.ToUpper) },
	"trim":  func(v any) (any, bool) { return stringOp(v, strings.TrimSpace) },
	"int":   toInt,
	"bool":  toBool,
	"date":  toDate,
	"mask":  mask,
}

// TransformNames lists the transforms a rule may name.
func TransformNames() []string {
	return []string{"e164", "lower", "upper", "trim", "int", "bool", "date", "mask"}
}

// stringForm is the text of a scalar, as `map` compares it. Integral floats
// print without a fraction, so a JSON 2 and a SOAP "2" look the same.
func stringForm(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case json.Number:
		return string(x), true
	}
	return "", false
}

func stringOp(v any, f func(string) string) (any, bool) {
	s, ok := stringForm(v)
	if !ok {
		return nil, false
	}
	return f(s), true
}

// toE164 accepts any number of a possible length (US when no country code
// is given). It does not check numbering plans, so fictional 555 numbers in
// test data pass; Twilio refuses unreachable ones itself.
func toE164(v any) (any, bool) {
	s, ok := stringForm(v)
	if !ok || strings.TrimSpace(s) == "" || len(s) > 64 {
		return nil, false
	}
	n, err := phonenumbers.Parse(s, "US")
	if err != nil || phonenumbers.IsPossibleNumberWithReason(n) != phonenumbers.IS_POSSIBLE {
		return nil, false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// maxExactInt is the largest integer a float64 (a JSON number) holds exactly.
const maxExactInt = 1 << 53

func toInt(v any) (any, bool) {
	var f float64
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		if x > maxExactInt || x < -maxExactInt {
			return nil, false
		}
		return int(x), true
	case float64:
		f = x
	case json.Number:
		return toInt(string(x))
	case string:
		s := strings.TrimSpace(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			if i > maxExactInt || i < -maxExactInt {
				return nil, false
			}
			return int(i), true
		}
		p, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, false
		}
		f = p
	default:
		return nil, false
	}
	// "2.0" is 2; 2.5 is not an integer and is refused rather than rounded.
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > maxExactInt {
		return nil, false
	}
	return int(f), true
}

func toBool(v any) (any, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int, int64, float64, json.Number:
		s, _ := stringForm(x)
		v = s
	}
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1":
		return true, true
	case "false", "no", "0":
		return false, true
	}
	return nil, false
}

// dateLayouts are what Salesforce (REST and SOAP) and Flex send for dates and
// datetimes. Salesforce REST writes offsets as +0000, which RFC 3339 refuses.
var dateLayouts = []string{
	"2006-01-02",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
}

// toDate keeps the calendar date as written, in the value's own offset: a
// pure mapping does not know the reader's zone.
func toDate(v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Format("2006-01-02"), true
		}
	}
	return nil, false
}

// mask keeps the last 4 characters (runes) and stars the rest.
func mask(v any) (any, bool) {
	s, ok := stringForm(v)
	if !ok {
		return nil, false
	}
	r := []rune(s)
	for i := 0; i < len(r)-4; i++ {
		r[i] = '*'
	}
	return string(r), true
}

// E164 normalises a phone number as the e164 transform does (US when no
// country code is given); ok is false for anything that is not a possible
// number.
func E164(s string) (string, bool) {
	v, ok := toE164(s)
	if !ok {
		return "", false
	}
	return v.(string), true
}
