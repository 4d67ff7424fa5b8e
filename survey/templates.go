package survey

import "html/template"

type pageView struct {
	Lang       string // the contact's language: <html lang>
	ChromeLang string // the language the page text is really in
	T          text
}

type questionView struct {
	Field, Label, Answer string
	Lang                 string // set when the label fell back to another language
	YesNo, Number        bool
	Missing              bool
}

type formView struct {
	pageView
	Greeting  string
	Date      string
	Invalid   bool
	Questions []questionView
}

type messageView struct {
	pageView
	Message string
	Done    bool
}

// pages is parsed once; self-contained: inline CSS, no scripts, no images.
var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.T.Title}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:18px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#f4f6f8}
main{max-width:34rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
.card{background:#fff;border-radius:12px;padding:1rem 1.25rem;margin:0 0 1rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
fieldset{border:0;margin:0;padding:0}
legend,label.q{display:block;font-weight:600;font-size:1.1rem;margin-bottom:.75rem;padding:0}
.choices{display:flex;gap:.75rem}
.choice{flex:1;display:flex;align-items:center;gap:.6rem;min-height:3.25rem;padding:.5rem 1rem;border:2px solid #8a959e;border-radius:10px;cursor:pointer;font-size:1.1rem}
.choice input{width:1.5rem;height:1.5rem;margin:0}
.choice:has(input:checked){border-color:#0b5cad;background:#e8f1fb}
.choice:has(input:focus-visible){outline:3px solid #0b5cad;outline-offset:2px}
textarea,input[type=text]{width:100%;min-height:3.25rem;font:inherit;padding:.6rem;border:2px solid #8a959e;border-radius:10px}
textarea{min-height:6rem}
button{width:100%;min-height:3.5rem;font:inherit;font-weight:700;color:#fff;background:#0b5cad;border:0;border-radius:10px;cursor:pointer}
button:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}
.error{background:#fdecea;border-left:6px solid #b3261e;padding:.75rem 1rem;border-radius:8px;margin:0 0 1rem}
.missing{border-left:6px solid #b3261e}
.hint{font-weight:400;color:#4a545c;font-size:.95rem}
.date{color:#4a545c;margin:0 0 1rem}
{{block "style" .}}{{end}}</style>
</head>
<body{{if ne .ChromeLang .Lang}} lang="{{.ChromeLang}}"{{end}}>
<main>
{{end}}

{{define "foot"}}</main>
</body>
</html>
{{end}}

{{define "form"}}{{template "head" .}}
<h1>{{.T.Title}}</h1>
<p>{{.Greeting}}</p>
<p>{{.T.Intro}}</p>
<p class="date">{{printf .T.ForDay .Date}}</p>
{{if .Invalid}}<p class="error" role="alert" id="form-error">{{.T.Invalid}}</p>{{end}}
<form method="post"{{if .Invalid}} aria-describedby="form-error"{{end}}>
{{range .Questions}}{{if .YesNo}}
<div class="card{{if .Missing}} missing{{end}}">
<fieldset>
<legend{{if .Lang}} lang="{{.Lang}}"{{end}}>{{.Label}}</legend>
<div class="choices">
<label class="choice" for="q-{{.Field}}-yes"><input type="radio" id="q-{{.Field}}-yes" name="{{.Field}}" value="yes" required{{if eq .Answer "yes"}} checked{{end}}{{if .Missing}} aria-invalid="true"{{end}}> {{$.T.Yes}}</label>
<label class="choice" for="q-{{.Field}}-no"><input type="radio" id="q-{{.Field}}-no" name="{{.Field}}" value="no" required{{if eq .Answer "no"}} checked{{end}}{{if .Missing}} aria-invalid="true"{{end}}> {{$.T.No}}</label>
</div>
</fieldset>
</div>
{{else if .Number}}
<div class="card">
<label class="q" for="q-{{.Field}}"><span{{if .Lang}} lang="{{.Lang}}"{{end}}>{{.Label}}</span> <span class="hint">({{$.T.Optional}})</span></label>
<input type="text" inputmode="decimal" id="q-{{.Field}}" name="{{.Field}}" value="{{.Answer}}" autocomplete="off">
</div>
{{else}}
<div class="card">
<label class="q" for="q-{{.Field}}"><span{{if .Lang}} lang="{{.Lang}}"{{end}}>{{.Label}}</span> <span class="hint">({{$.T.Optional}})</span></label>
<textarea id="q-{{.Field}}" name="{{.Field}}" rows="4" autocomplete="off">{{.Answer}}</textarea>
</div>
{{end}}{{end}}
<button type="submit">{{.T.Submit}}</button>
</form>
{{template "foot" .}}{{end}}

{{define "message"}}{{template "head" .}}
<h1>{{.T.Title}}</h1>
<div class="card" role="status"><p>{{.Message}}</p>{{if .Done}}<p>{{.T.Close}}</p>{{end}}</div>
{{template "foot" .}}{{end}}
`))
