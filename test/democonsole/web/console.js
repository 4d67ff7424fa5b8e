// The demo console: polls /demo/api/state and renders it; every value goes
// through textContent (records are data, never markup).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let state = null;
  let lastJSON = "";

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  // Twilio sids are long: show the start and end, the whole in the tooltip.
  function shortID(id) { id = v(id); return id.length > 20 ? id.slice(0, 8) + "…" + id.slice(-4) : id; }
  function idCell(id) { return el("td", { class: "mono", title: v(id), text: shortID(id) }); }
  function ref(prefix, id) {
    if (!id) return "";
    const a = el("a", { class: "ref", href: "#" + prefix + "-" + id, title: id, text: shortID(id) });
    a.addEventListener("click", () => flash(prefix + "-" + id));
    return a;
  }
  function flash(rowID) {
    const row = $(rowID);
    if (!row) return;
    row.classList.add("flash");
    setTimeout(() => row.classList.remove("flash"), 2000);
  }
  function v(x) { return x === null || x === undefined ? "" : String(x); }
  function cell(x) { const td = el("td"); if (x instanceof Node) td.append(x); else td.textContent = v(x); return td; }
  function list(nodes) { const s = el("span"); nodes.forEach((n, i) => { if (i) s.append(" "); s.append(n); }); return s; }
  function fill(tableID, rows, cols, empty) {
    const tb = $(tableID).tBodies[0];
    tb.replaceChildren();
    if (!rows || rows.length === 0) {
      tb.append(el("tr", {}, el("td", { class: "empty", colspan: String(cols), text: empty })));
      return;
    }
    rows.forEach((r) => tb.append(r));
  }
  function status(s) { return el("span", { class: "status " + v(s), text: v(s) }); }
  function when(t) {
    if (!t) return "";
    const d = new Date(t);
    return isNaN(d) ? t : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }
  function button(text, fn) { const b = el("button", { type: "button", text }); b.addEventListener("click", fn); return b; }

  function render(st) {
    const sf = st.salesforce, tw = st.twilio;
    fill("contacts", (sf.contacts || []).map((c) => {
      const f = c.fields;
      const edit = button("Edit", () => openEdit(c));
      edit.classList.add("mini");
      const who = el("td", {}, el("div", {}, v(f.FirstName) + " " + v(f.LastName) + " ", edit), el("div", { class: "mono small", text: c.id }));
      return el("tr", { id: "sf-" + c.id },
        who, el("td", { class: "nowrap", text: v(f.MobilePhone) }), cell(f.Preferred_Language__c),
        cell(f.Outreach_Status__c), cell(f.Monitoring_Status__c), cell(f.SMS_Opt_Out__c ? "yes" : ""),
        el("td", {}, ...(c.tasks || []).map((s) => el("div", {}, ref("tw", s))),
          (c.messages || []).length ? el("div", { class: "small", text: c.messages.length + " messages" }) : ""));
    }), 7, "no contacts");
    fill("activities", (sf.activities || []).map((r) => {
      const f = r.fields;
      return el("tr", { id: "sf-" + r.id }, idCell(r.id), cell(ref("sf", f.WhoId)), cell(f.Subject),
        cell(v(f.CallDisposition) || v(f.Description)), cell(ref("tw", f.Twilio_Task_Sid__c)));
    }), 5, "none yet: complete a task or text the bridge");
    fill("followups", (sf.follow_ups || []).map((r) => {
      const f = r.fields;
      const sid = v(f.Twilio_Task_Sid__c).replace(/-follow-up$/, "");
      return el("tr", { id: "sf-" + r.id }, idCell(r.id), cell(ref("sf", f.WhoId)), cell(f.Subject), cell(f.ActivityDate),
        cell(list([ref("tw", sid), el("span", { class: "mono", text: "-follow-up" })])));
    }), 5, "none yet: complete a task with a follow-up date");
    fill("surveys", (sf.surveys || []).map((r) => {
      const f = r.fields;
      return el("tr", { id: "sf-" + r.id }, idCell(r.id), cell(ref("sf", f.Contact__c)), cell(f.Survey_Date__c),
        cell(f.Fever__c), cell(f.Cough__c), cell(f.Other_Symptoms__c));
    }), 6, "none yet: open a survey link from a message");

    fill("tasks", (tw.tasks || []).map((t) => {
      const attrs = el("details", {}, el("summary", { text: "attributes" }), el("pre", { text: JSON.stringify(t.attributes, null, 2) }));
      const open = ["pending", "reserved", "assigned", "wrapping"].includes(t.status);
      return el("tr", { id: "tw-" + t.sid }, idCell(t.sid), cell(status(t.status)), cell(t.priority), cell(ref("sf", t.record_id)),
        cell(attrs), cell(ref("sf", t.activity)), cell(open ? button("Complete…", () => openComplete(t)) : ""));
    }), 7, "no tasks");
    fill("messages", (tw.messages || []).map((m) => {
      const reply = button("Reply…", () => { $("sms-from").value = m.to; $("sms-body").focus(); });
      reply.classList.add("mini");
      // The body as sent, its survey link shortened into a link that opens the page.
      const body = el("td", { class: "body" });
      const at = m.survey_url ? v(m.body).indexOf(m.survey_url) : -1;
      if (at < 0) body.textContent = v(m.body);
      else body.append(v(m.body).slice(0, at), el("a", { href: m.survey_url, target: "_blank", rel: "noopener", title: m.survey_url, text: m.survey_url.includes("/report/") ? "/report/…" : "/survey/…" }), v(m.body).slice(at + m.survey_url.length));
      return el("tr", { id: "tw-" + m.sid }, idCell(m.sid), el("td", {}, el("div", { text: v(m.to) }), reply), cell(ref("sf", m.record_id)),
        cell(list([status(m.status), m.error_code ? el("span", { text: " " + m.error_code }) : null].filter(Boolean))),
        cell(when(m.send_at)), body);
    }), 6, "no messages");
    fill("calls", (tw.calls || []).map((c) => el("tr", { id: "tw-" + c.sid }, idCell(c.sid), cell(v(c.to)), cell(ref("sf", c.record_id)),
      cell(status(c.status)), el("td", { class: "body", text: (c.said || []).join(" / ") }),
      cell((c.pressed || []).map((k) => (k === "" ? "(none)" : k)).join(", ")))), 6, "no calls");

    const ol = $("actions");
    ol.replaceChildren();
    (st.actions || []).slice().reverse().forEach((a) => {
      ol.append(el("li", { class: a.failed ? "failed" : "" },
        el("span", { class: "when", text: new Date(a.at).toLocaleTimeString() }),
        a.what + (a.ref ? " (" : ""), a.ref ? ref(a.ref.startsWith("WT") ? "tw" : "sf", a.ref) : "", a.ref ? ")" : "",
        ": " + (a.status ? "HTTP " + a.status + ", " : "") + a.outcome));
    });
    if (!ol.children.length) ol.append(el("li", { class: "empty", text: "nothing yet" }));
  }

  async function poll() {
    try {
      const r = await fetch("/demo/api/state", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const text = await r.text();
      $("live").textContent = "live";
      $("live").className = "live ok";
      if (text !== lastJSON) {
        lastJSON = text;
        state = JSON.parse(text);
        render(state);
        if (location.hash) { const row = document.querySelector(location.hash); if (row) row.classList.add("flash"); }
      }
    } catch (e) {
      $("live").textContent = "bridge demo not reachable";
      $("live").className = "live bad";
    }
    setTimeout(poll, 1000);
  }

  async function post(path, body) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    let out = {};
    try { out = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok && out.error) alert(out.error);
    lastJSON = "";
    return out;
  }

  let editing = null;
  function openEdit(c) {
    editing = c;
    $("edit-id").textContent = c.id;
    const box = $("edit-fields");
    box.replaceChildren();
    for (const name of state.editable) {
      const input = el("input", { name, value: v(c.fields[name]) });
      if (name === "Monitoring_Start__c") input.setAttribute("placeholder", "YYYY-MM-DD");
      if (name === "SMS_Opt_Out__c") input.setAttribute("placeholder", "true / false");
      box.append(el("label", {}, name, input));
    }
    $("edit-dialog").showModal();
  }
  $("edit-form").addEventListener("submit", (ev) => {
    if (ev.submitter && ev.submitter.value !== "save") return;
    const fields = {};
    for (const input of $("edit-fields").querySelectorAll("input")) {
      if (input.value !== v(editing.fields[input.name])) fields[input.name] = input.value;
    }
    post("/demo/api/contacts/" + encodeURIComponent(editing.id), { fields });
  });

  let completing = null;
  function openComplete(t) {
    completing = t;
    $("complete-sid").textContent = t.sid;
    const d = new Date(Date.now() + 2 * 86400000);
    $("complete-followup").value = d.toISOString().slice(0, 10);
    $("complete-dialog").showModal();
  }
  $("complete-form").addEventListener("submit", (ev) => {
    if (ev.submitter && ev.submitter.value !== "save") return;
    post("/demo/api/tasks/" + encodeURIComponent(completing.sid) + "/complete",
      { outcome: $("complete-outcome").value, follow_up_date: $("complete-followup").value });
  });

  $("sms-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    post("/demo/api/sms", { from: $("sms-from").value, body: $("sms-body").value }).then(() => { $("sms-body").value = ""; });
  });

  poll();
})();
