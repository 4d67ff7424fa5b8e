package survey

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
)

// reportScript makes adding and removing rows instant; without it the same
// buttons post the form and the server re-renders it.
const reportScript = `(function(){var f=document.getElementById("report");if(!f)return;var max=30;
function rows(){return f.querySelectorAll("fieldset.row");}
function renumber(){rows().forEach(function(r,i){
r.querySelectorAll("[name]").forEach(function(el){if(el.name==="remove")el.value=i;else el.name=el.name.replace(/\.\d+$/,"."+i);});
r.querySelectorAll("[id],[for],[aria-describedby]").forEach(function(el){["id","for","aria-describedby"].forEach(function(a){var v=el.getAttribute(a);if(v)el.setAttribute(a,v.replace(/^r\d+-/,"r"+i+"-"));});});
var l=r.querySelector("legend");l.textContent=l.textContent.replace(/\d+/,i+1);});
var add=f.querySelector("button[name=add]");if(add)add.hidden=rows().length>=max;}
f.addEventListener("click",function(e){var b=e.target.closest("button");if(!b)return;var rs=rows();
if(b.name==="remove"&&rs.length>1){e.preventDefault();b.closest("fieldset.row").remove();renumber();rows()[0].querySelector("input").focus();}
else if(b.name==="add"&&rs.length<max){e.preventDefault();var last=rs[rs.length-1],n=last.cloneNode(true);
n.querySelectorAll("input").forEach(function(i){if(i.type==="checkbox")i.checked=false;else i.value="";i.removeAttribute("aria-invalid");i.removeAttribute("aria-describedby");});
n.querySelectorAll(".rowerr").forEach(function(x){x.remove();});n.classList.remove("missing");last.after(n);renumber();n.querySelector("input").focus();}});})();`

// reportCSP allows the one inline script by its hash; nothing else runs and
// nothing loads from anywhere.
var reportCSP = func() string {
	sum := sha256.Sum256([]byte(reportScript))
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}()

// reportPages shares the survey's head, foot and message templates.
var reportPages = template.Must(template.Must(pages.Clone()).Parse(`
{{define "style"}}
.row legend{float:left;width:100%;font-weight:700;font-size:1.1rem;margin:0;padding:0}
.row legend+label{clear:both}
.row label{display:block;font-weight:600;margin:.75rem 0 .25rem}
.row input[type=tel],.row input[type=email],.row input[type=date]{width:100%;min-height:3.25rem;font:inherit;padding:.6rem;border:2px solid #8a959e;border-radius:10px;background:#fff}
.row label.check{display:flex;align-items:center;gap:.6rem;font-weight:400;min-height:3rem}
.check input{width:1.5rem;height:1.5rem;margin:0}
[aria-invalid=true]{border-color:#b3261e!important}
.rowerr{color:#b3261e;font-weight:600;margin:.35rem 0 0}
button.secondary{background:#fff;color:#0b5cad;border:2px solid #0b5cad;margin:.75rem 0 0;min-height:3rem}
button.add{margin:0 0 1rem}
.default{position:absolute;left:-9999px;width:1px;height:1px;overflow:hidden}
{{end}}

{{define "report"}}{{template "head" .}}
<h1>{{.T.Title}}</h1>
<p>{{.Greeting}}</p>
<p>{{.T.Explain}}</p>
<p class="hint">{{.T.Hint}}</p>
{{if .FormError}}<p class="error" role="alert" id="form-error">{{.FormError}}</p>{{end}}
<form method="post" id="report" novalidate{{if .FormError}} aria-describedby="form-error"{{end}}>
<button type="submit" class="default" tabindex="-1" aria-hidden="true">{{.T.Submit}}</button>
{{range .Rows}}<fieldset class="card row{{if or .NameErr .ContactErr .DateErr}} missing{{end}}">
<legend>{{printf $.T.Person .Number}}</legend>
<label for="r{{.Index}}-first_name">{{$.T.FirstName}}</label>
<input type="text" id="r{{.Index}}-first_name" name="first_name.{{.Index}}" value="{{.FirstName}}" maxlength="40" autocomplete="off"{{if .NameErr}} aria-invalid="true" aria-describedby="r{{.Index}}-name-err"{{end}}>
{{if .NameErr}}<p class="rowerr" id="r{{.Index}}-name-err">{{.NameErr}}</p>{{end}}
<label for="r{{.Index}}-phone">{{$.T.Phone}}</label>
<input type="tel" id="r{{.Index}}-phone" name="phone.{{.Index}}" value="{{.Phone}}" inputmode="tel" autocomplete="off"{{if .ContactErr}} aria-invalid="true" aria-describedby="r{{.Index}}-contact-err"{{end}}>
<label for="r{{.Index}}-email">{{$.T.Email}}</label>
<input type="email" id="r{{.Index}}-email" name="email.{{.Index}}" value="{{.Email}}" autocomplete="off">
{{if .ContactErr}}<p class="rowerr" id="r{{.Index}}-contact-err">{{.ContactErr}}</p>{{end}}
<label for="r{{.Index}}-last_contact">{{$.T.LastContact}}</label>
<input type="date" id="r{{.Index}}-last_contact" name="last_contact.{{.Index}}" value="{{.LastContact}}" min="{{$.MinDate}}" max="{{$.MaxDate}}" placeholder="YYYY-MM-DD"{{if .DateErr}} aria-invalid="true" aria-describedby="r{{.Index}}-date-err"{{end}}>
{{if .DateErr}}<p class="rowerr" id="r{{.Index}}-date-err">{{.DateErr}}</p>{{end}}
<label class="check" for="r{{.Index}}-household"><input type="checkbox" id="r{{.Index}}-household" name="household.{{.Index}}" value="yes"{{if .Household}} checked{{end}}> {{$.T.Household}}</label>
<button type="submit" name="remove" value="{{.Index}}" class="secondary">{{$.T.Remove}}</button>
</fieldset>
{{end}}{{if .CanAdd}}<button type="submit" name="add" value="1" class="secondary add">{{.T.Add}}</button>{{end}}
<button type="submit">{{.T.Submit}}</button>
</form>
<script>` + reportScript + `</script>
{{template "foot" .}}{{end}}
`))
