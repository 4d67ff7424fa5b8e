package mapping
import ("testing";"strings";"time")
func TestSlowInputs(t *testing.T){
 for name, doc := range map[string]string{
  "deep": strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
  "deepmap": strings.Repeat("{a: ", 3000) + "1" + strings.Repeat("}", 3000),
  "manykeys": strings.Repeat("x", 0) + func() string { var b strings.Builder; for i := 0; i < 100000; i++ { b.WriteString("k"); b.WriteString(strings.Repeat("a", i%7)); b.WriteString(string(rune('a'+i%26))); b.WriteString(": 1\n") }; return b.String() }(),
  "manyattrs": "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n" + func() string { var b strings.Builder; for i := 0; i < 20000; i++ { b.WriteString("    a"); b.WriteString(strings.Repeat("b", i%50)); b.WriteString(string(rune('a'+i%26))); b.WriteString(string(rune('a'+(i/26)%26))); b.WriteString(string(rune('a'+(i/676)%26))); b.WriteString(": {const: 1}\n") }; return b.String() }(),
 } {
  st := time.Now()
  errs := Validate([]byte(doc))
  t.Log(name, len(doc), len(errs), time.Since(st))
 }
}
