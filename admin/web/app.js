// Bridge admin page. Plain JS, no dependencies: it must work offline and
// under a strict CSP. The token lives in sessionStorage (this tab only).
'use strict';

(function () {
  const TOKEN_KEY = 'bridge.adminToken';
  const API = 'api/'; // relative to /admin/
  const $ = (id) => document.getElementById(id);

  const state = { version: null, loadedText: '', current: null };

  // ---- token and requests -------------------------------------------------

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  async function api(method, path, opts) {
    opts = opts || {};
    const headers = Object.assign({ 'Accept': 'application/json' }, opts.headers || {});
    headers['Authorization'] = 'Bearer ' + token();
    let res;
    try {
      res = await fetch(API + path, { method: method, headers: headers, body: opts.body, cache: 'no-store' });
    } catch (e) {
      return { status: 0, data: { error: 'The bridge could not be reached. Check your connection and try again.' } };
    }
    const text = await res.text();
    let data = text;
    if ((res.headers.get('Content-Type') || '').includes('json')) {
      try { data = JSON.parse(text); } catch (e) { data = { error: 'Unreadable answer from the bridge.' }; }
    }
    if (res.status === 401 && !opts.signingIn) {
      signOut('Your token was refused or has expired. Paste a token to sign in again.');
    }
    return { status: res.status, data: data, headers: res.headers };
  }

  function errorText(r) {
    if (r.data && typeof r.data === 'object' && r.data.error) return r.data.error;
    return 'The request failed (HTTP ' + r.status + ').';
  }

  // ---- messages -----------------------------------------------------------

  function announce(text) {
    const a = $('announce');
    a.textContent = '';
    // A fresh text node makes screen readers repeat identical messages.
    setTimeout(() => { a.textContent = text; }, 30);
  }

  function show(id, kind, text) {
    const el = $(id);
    el.hidden = !text;
    el.className = 'msg' + (kind ? ' ' + kind : '');
    el.textContent = text || '';
    if (text) announce(text);
  }

  // Destructive buttons ask for a second press instead of a modal dialog.
  function confirmStep(btn, label) {
    if (btn.dataset.armed === '1') {
      btn.dataset.armed = '';
      btn.textContent = btn.dataset.label;
      btn.classList.remove('armed');
      return true;
    }
    btn.dataset.label = btn.textContent;
    btn.dataset.armed = '1';
    btn.textContent = label;
    btn.classList.add('armed');
    setTimeout(() => {
      if (btn.dataset.armed === '1') {
        btn.dataset.armed = '';
        btn.textContent = btn.dataset.label;
        btn.classList.remove('armed');
      }
    }, 6000);
    return false;
  }

  // ---- sign in / out ------------------------------------------------------

  function signedIn(yes) {
    $('signin').hidden = yes;
    $('app').hidden = !yes;
    $('nav').hidden = !yes;
    $('who').hidden = !yes;
  }

  function subjectOf(tok) {
    try {
      const part = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(part + '==='.slice((part.length + 3) % 4)));
      return claims.sub || '';
    } catch (e) { return ''; }
  }

  async function signIn(ev) {
    ev.preventDefault();
    const tok = $('token').value.trim().replace(/^Bearer\s+/i, '');
    $('signin-error').hidden = true;
    if (!tok) return;
    sessionStorage.setItem(TOKEN_KEY, tok);
    const r = await api('GET', 'mappings', { headers: { 'Accept': 'application/yaml' }, signingIn: true });
    if (r.status === 401 || r.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      const el = $('signin-error');
      el.textContent = r.status === 403 ? 'This token is valid but not an admin token.' : 'This token was refused (invalid or expired).';
      el.hidden = false;
      $('token').focus();
      return;
    }
    $('token').value = '';
    start(r);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    signedIn(false);
    state.version = null;
    $('doc').value = '';
    renderGutter();
    if (message) {
      const el = $('signin-error');
      el.textContent = message;
      el.hidden = false;
    } else {
      announce('Signed out.');
    }
    $('token').focus();
  }

  function start(firstLoad) {
    signedIn(true);
    const sub = subjectOf(token());
    $('who-label').textContent = sub ? 'Signed in as ' + sub : 'Signed in';
    if (firstLoad) applyLoad(firstLoad); else loadMapping(true);
    loadHistory();
    loadDead();
    watchMonitoring();
  }

  // ---- editor -------------------------------------------------------------

  function renderGutter() {
    const n = $('doc').value.split('\n').length;
    let s = '';
    for (let i = 1; i <= n; i++) s += i + '\n';
    $('gutter').textContent = s;
    $('gutter').scrollTop = $('doc').scrollTop;
  }

  function markDirty() {
    $('dirty').hidden = $('doc').value === state.loadedText;
  }

  function setVersion(v) {
    state.version = v;
    $('version-label').textContent = v > 0 ? 'Editing version ' + v : 'No stored version yet';
  }

  function applyLoad(r) {
    if (r.status !== 200) {
      show('editor-msg', 'error', 'Could not load the mapping: ' + errorText(r));
      return;
    }
    const v = parseInt(r.headers.get('X-Mapping-Version') || '0', 10);
    $('doc').value = typeof r.data === 'string' ? r.data : JSON.stringify(r.data, null, 2);
    state.loadedText = $('doc').value;
    $('doc').scrollTop = 0;
    state.current = v;
    setVersion(v);
    renderGutter();
    markDirty();
    clearErrors();
    show('editor-msg', 'ok', 'Loaded version ' + v + '.');
  }

  async function loadMapping(force) {
    const btn = $('load-btn');
    if (!force && $('doc').value !== state.loadedText && !confirmStep(btn, 'Discard edits and load?')) {
      show('editor-msg', 'warn', 'You have unsaved edits. Press the button again to discard them and load the latest version.');
      return;
    }
    const r = await api('GET', 'mappings', { headers: { 'Accept': 'application/yaml' } });
    applyLoad(r);
  }

  function clearErrors() {
    $('errors').textContent = '';
    $('errors-box').hidden = true;
  }

  function renderErrors(errs) {
    const ul = $('errors');
    ul.textContent = '';
    errs.forEach((e) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'error-item';
      const path = document.createElement('code');
      path.className = 'path';
      path.textContent = e.path || '(document)';
      const msg = document.createElement('span');
      msg.className = 'emsg';
      msg.textContent = e.message;
      b.appendChild(path);
      b.appendChild(msg);
      const line = e.line || findPathLine($('doc').value, e.path || '');
      if (line) {
        const ln = document.createElement('span');
        ln.className = 'line';
        ln.textContent = 'line ' + line;
        b.appendChild(ln);
        b.addEventListener('click', () => selectLine(line));
      } else {
        b.disabled = true;
      }
      li.appendChild(b);
      ul.appendChild(li);
    });
    $('errors-box').hidden = errs.length === 0;
  }

  // findPathLine finds the line of a dotted path (a.b[2].c) in YAML text by
  // indentation; keys inside a flow mapping {…} resolve to its line.
  function findPathLine(text, path) {
    if (!path) return 0;
    const segs = [];
    path.split('.').forEach((p) => {
      const m = p.match(/^([^[]*)((\[\d+\])*)$/);
      if (!m) { segs.push({ key: p }); return; }
      if (m[1]) segs.push({ key: m[1] });
      (m[2].match(/\d+/g) || []).forEach((i) => segs.push({ index: parseInt(i, 10) }));
    });
    const lines = text.split('\n');
    let at = -1; // line of the parent
    let indent = -1;
    for (const seg of segs) {
      let found = -1;
      if (seg.key !== undefined) {
        const re = new RegExp('^(\\s*)(- )?["\']?' + seg.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '["\']?\\s*:');
        for (let i = at + 1; i < lines.length; i++) {
          const ind = lines[i].search(/\S/);
          if (ind < 0 || /^\s*#/.test(lines[i])) continue;
          if (i > at + 1 && ind <= indent) break;
          const m = lines[i].match(re);
          if (m && m[1].length > indent) { found = i; indent = m[1].length + (m[2] ? 2 : 0); break; }
        }
        if (found < 0 && at >= 0 && new RegExp('[{,]\\s*' + seg.key + '\\s*:').test(lines[at])) return at + 1;
      } else {
        let count = -1;
        for (let i = at + 1; i < lines.length; i++) {
          const ind = lines[i].search(/\S/);
          if (ind < 0 || /^\s*#/.test(lines[i])) continue;
          if (ind <= indent && !/^\s*- /.test(lines[i])) break;
          if (/^\s*- /.test(lines[i]) && ind >= indent) {
            count++;
            if (count === seg.index) { found = i; indent = ind + 1; break; }
          }
        }
      }
      if (found < 0) return at >= 0 ? at + 1 : 0;
      at = found;
    }
    return at + 1;
  }

  function selectLine(n) {
    const ta = $('doc');
    const lines = ta.value.split('\n');
    if (n < 1 || n > lines.length) return;
    let startPos = 0;
    for (let i = 0; i < n - 1; i++) startPos += lines[i].length + 1;
    ta.focus();
    ta.setSelectionRange(startPos, startPos + lines[n - 1].length);
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (n - 4) * lh);
    renderGutter();
    announce('Line ' + n + ' selected in the editor.');
  }

  async function validate() {
    const r = await api('POST', 'mappings/validate', {
      headers: { 'Content-Type': 'application/yaml' }, body: $('doc').value,
    });
    handleChecked(r, 'The document is valid. Nothing was saved.');
  }

  function handleChecked(r, okText) {
    if (r.status === 200) {
      clearErrors();
      show('editor-msg', 'ok', okText);
      return true;
    }
    if (r.status === 400 && r.data && r.data.errors) {
      renderErrors(r.data.errors);
      const n = r.data.errors.length;
      show('editor-msg', 'error', n + (n === 1 ? ' problem' : ' problems') + ' found. Nothing was saved.');
      $('errors-h').focus();
      return false;
    }
    show('editor-msg', 'error', errorText(r));
    return false;
  }

  async function save() {
    const headers = { 'Content-Type': 'application/yaml' };
    if (state.version !== null) headers['If-Match'] = '"' + state.version + '"';
    const r = await api('PUT', 'mappings', { headers: headers, body: $('doc').value });
    if (r.status === 409) {
      clearErrors();
      show('editor-msg', 'conflict',
        'Not saved: someone saved a newer version after you loaded version ' + state.version +
        '. Your text is still in the editor. Copy your changes, press Load to get the latest version, then reapply them.');
      loadHistory();
      return;
    }
    if (r.status === 200) {
      state.loadedText = $('doc').value;
      setVersion(r.data.version);
      markDirty();
      clearErrors();
      show('editor-msg', 'ok', 'Saved as version ' + r.data.version + '. It takes effect on every bridge instance within 2 seconds.');
      loadHistory();
      return;
    }
    handleChecked(r, '');
  }

  // ---- preview ------------------------------------------------------------

  const recordExample = {
    Id: '003000000000001AAA', FirstName: 'Ana', MobilePhone: '(617) 555-0199',
    Outreach_Status__c: 'Needs Outreach', Priority__c: '2', Preferred_Language__c: 'Spanish',
    Case_Number__c: 'C-1042', Monitoring_Status__c: 'Active', Monitoring_Start__c: '2026-03-02',
  };
  const examples = {
    outcome_to_crm: {
      TaskSid: 'WT0123456789abcdef0123456789abcdef', EventType: 'task.completed', TaskAge: '95',
      TaskAttributes: { crm: { record_id: '003000000000001AAA', object: 'Contact' }, conversations: { outcome: 'Reached' }, call_sid: 'CA0123456789abcdef0123456789abcdef', follow_up_date: '2026-03-10' },
    },
    survey_to_crm: {
      contact_id: '003000000000001AAA', date: '2026-03-02', language: 'es',
      answers: { Fever__c: 'no', Cough__c: 'yes', Other_Symptoms__c: 'headache' },
    },
  };

  function eventFlow(flow) { return flow === 'outcome_to_crm' || flow === 'survey_to_crm'; }

  function previewSourceChanged() {
    const flow = $('flow').value;
    const ev = eventFlow(flow);
    const radios = document.querySelectorAll('input[name=source]');
    radios.forEach((r) => { r.disabled = ev; });
    if (ev) radios[1].checked = true;
    const useJSON = document.querySelector('input[name=source]:checked').value === 'json';
    $('record-id-field').hidden = useJSON;
    $('json-field').hidden = !useJSON;
    $('preview-json-label').textContent = flow === 'outcome_to_crm' ? 'TaskRouter event (form fields or {"task": …})'
      : flow === 'survey_to_crm' ? 'Survey ({"contact_id", "date", "answers"})' : 'Record (JSON)';
    const ta = $('preview-json');
    const example = JSON.stringify(examples[flow] || recordExample, null, 2);
    if (!ta.value.trim() || ta.dataset.example === ta.value) { ta.value = example; ta.dataset.example = example; }
  }

  async function runPreview(ev) {
    ev.preventDefault();
    const flow = $('flow').value;
    const body = { flow: flow };
    const useJSON = document.querySelector('input[name=source]:checked').value === 'json';
    if (useJSON) {
      let v;
      try { v = JSON.parse($('preview-json').value); } catch (e) {
        show('preview-msg', 'error', 'The JSON input is not valid JSON: ' + e.message);
        $('preview-json').focus();
        return;
      }
      if (flow === 'outcome_to_crm') body.event = v;
      else if (flow === 'survey_to_crm') Object.assign(body, v);
      else body.record = v;
    } else {
      body.record_id = $('record-id').value.trim();
      if (!body.record_id) { show('preview-msg', 'error', 'Enter a record id.'); $('record-id').focus(); return; }
    }
    if ($('use-draft').checked) body.mapping = $('doc').value;
    const r = await api('POST', 'mappings/preview', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (r.status === 200) {
      $('preview-out').textContent = JSON.stringify(r.data, null, 2);
      show('preview-msg', 'ok', 'Preview ready. Nothing was sent.');
      return;
    }
    $('preview-out').textContent = '';
    if (r.status === 400 && r.data && r.data.errors) {
      renderErrors(r.data.errors);
      show('preview-msg', 'error', 'The editor text has problems; see the list in the editor.');
      return;
    }
    show('preview-msg', 'error', errorText(r));
  }

  // ---- history ------------------------------------------------------------

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function when(s) {
    const d = new Date(s);
    return isNaN(d) ? s : d.toLocaleString();
  }

  async function loadHistory() {
    const r = await api('GET', 'mappings/history');
    const tbody = document.querySelector('#history tbody');
    if (r.status !== 200) { show('history-msg', 'error', errorText(r)); return; }
    tbody.textContent = '';
    const vs = r.data.versions || [];
    if (!vs.length) {
      const tr = document.createElement('tr');
      cell(tr, 'No versions stored yet.', 'empty').colSpan = 5;
      tbody.appendChild(tr);
    }
    vs.forEach((v, i) => {
      const tr = document.createElement('tr');
      tr.dataset.version = v.version;
      cell(tr, String(v.version), 'num');
      cell(tr, v.who);
      cell(tr, when(v.when));
      cell(tr, v.summary, 'summary');
      const td = cell(tr, '');
      if (i === 0) {
        const s = document.createElement('span');
        s.className = 'badge';
        s.textContent = 'in force';
        td.appendChild(s);
      } else {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'secondary small';
        b.textContent = 'Roll back to ' + v.version;
        b.setAttribute('aria-label', 'Roll back to version ' + v.version);
        b.addEventListener('click', () => rollback(v.version, b));
        td.appendChild(b);
      }
      tbody.appendChild(tr);
    });
  }

  async function rollback(v, btn) {
    if (!confirmStep(btn, 'Confirm roll back to ' + v)) {
      show('history-msg', 'warn', 'Press again to roll back to version ' + v + '. This saves a new version equal to it.');
      return;
    }
    const r = await api('POST', 'mappings/rollback?version=' + encodeURIComponent(v));
    if (r.status !== 200) { show('history-msg', 'error', errorText(r)); return; }
    show('history-msg', 'ok', 'Rolled back: version ' + r.data.version + ' (equal to version ' + v + ') is now in force.');
    await loadHistory();
    if ($('doc').value === state.loadedText) {
      await loadMapping(true);
    } else {
      show('editor-msg', 'warn', 'The mapping was rolled back while you had unsaved edits. Load to see it.');
    }
  }

  // ---- dead letters -------------------------------------------------------

  async function loadDead() {
    const r = await api('GET', 'deadletters');
    const tbody = document.querySelector('#dead tbody');
    if (r.status !== 200) { show('dead-msg', 'error', errorText(r)); return; }
    tbody.textContent = '';
    const ds = r.data.deadletters || [];
    if (!ds.length) {
      const tr = document.createElement('tr');
      cell(tr, 'No dead letters. Everything was delivered.', 'empty').colSpan = 7;
      tbody.appendChild(tr);
    }
    ds.forEach((d) => {
      const tr = document.createElement('tr');
      cell(tr, d.id, 'mono');
      cell(tr, d.queue);
      cell(tr, d.key, 'mono');
      const err = cell(tr, d.error, 'summary');
      if (d.replay_of) {
        // A replay that failed again: say so, and what failed before.
        const p = document.createElement('p');
        p.className = 'again';
        p.textContent = 'Failed again after replay ' + d.replays + ' (replay of ' + d.replay_of + ').';
        err.prepend(p);
        const ol = document.createElement('ol');
        ol.className = 'history';
        d.history.forEach((h) => {
          const li = document.createElement('li');
          li.textContent = when(h.failed_at) + ' ' + h.id + ': ' + h.error + ' (' + h.attempts + ' attempts)';
          ol.appendChild(li);
        });
        const det = document.createElement('details');
        const sum = document.createElement('summary');
        sum.textContent = 'Earlier failures';
        det.append(sum, ol);
        err.appendChild(det);
      }
      cell(tr, String(d.attempts), 'num');
      cell(tr, when(d.failed_at));
      const td = cell(tr, '');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary small';
      b.textContent = 'Replay';
      b.setAttribute('aria-label', 'Replay ' + d.id);
      b.addEventListener('click', () => replay(d.id, b));
      td.appendChild(b);
      tbody.appendChild(tr);
    });
  }

  async function replay(id, btn) {
    btn.disabled = true;
    const r = await api('POST', 'deadletters/' + encodeURIComponent(id) + '/replay');
    if (r.status !== 200) { btn.disabled = false; show('dead-msg', 'error', errorText(r)); return; }
    show('dead-msg', 'ok', 'Replayed ' + id + ': it is back in the ' + id.split(':')[0] + ' queue. Checking whether it goes through…');
    await loadDead();
    // The replay runs in the background: look again, and say whether it failed again.
    for (const wait of [1000, 2000, 4000, 8000]) {
      await new Promise((res) => setTimeout(res, wait));
      const again = await api('GET', 'deadletters');
      if (again.status !== 200) return;
      const d = (again.data.deadletters || []).find((x) => x.replay_of === id);
      if (d) {
        show('dead-msg', 'error', 'The replay of ' + id + ' failed again: ' + d.error + ' (now ' + d.id + ').');
        loadDead();
        return;
      }
    }
    show('dead-msg', 'ok', 'Replayed ' + id + ': no new failure so far.');
  }

  // ---- monitoring ---------------------------------------------------------

  let monitoringTimer = null;

  function rows(tbodySel, items, cols, emptyText) {
    const tbody = document.querySelector(tbodySel);
    tbody.textContent = '';
    if (!items.length) {
      const tr = document.createElement('tr');
      cell(tr, emptyText, 'empty').colSpan = cols.length;
      tbody.appendChild(tr);
      return;
    }
    items.forEach((it) => {
      const tr = document.createElement('tr');
      cols.forEach((c) => cell(tr, c.get(it), c.cls));
      tbody.appendChild(tr);
    });
  }

  async function loadMonitoring() {
    if ($('app').hidden) return;
    const r = await api('GET', 'monitoring');
    if (r.status !== 200) { show('monitoring-msg', 'error', errorText(r)); return; }
    $('monitoring-msg').hidden = true;
    const d = r.data;
    const es = d.escalations || [], ms = d.missed_days || [];
    const ch = Object.keys(d.contacts_by_channel || {}).sort();
    $('monitoring-summary').textContent = d.date + ': ' + es.length + ' escalation(s), ' + ms.length + ' missed day(s), ' +
      ch.reduce((n, c) => n + d.contacts_by_channel[c], 0) + ' contact(s) in monitoring.';
    rows('#escalations tbody', es, [{ get: (e) => e.contact_id, cls: 'mono' }, { get: (e) => e.reason }], 'No escalations today.');
    rows('#missed tbody', ms, [{ get: (m) => m.contact_id, cls: 'mono' }, { get: (m) => m.day }], 'No missed days found today.');
    rows('#channels tbody', ch, [{ get: (c) => c }, { get: (c) => String(d.contacts_by_channel[c]), cls: 'num' },
      { get: (c) => ((d.contacts || {})[c] || []).join(' '), cls: 'mono' }], 'No contacts in monitoring.');
  }

  function watchMonitoring() {
    if (monitoringTimer) clearInterval(monitoringTimer);
    loadMonitoring();
    monitoringTimer = setInterval(loadMonitoring, 10000);
  }

  // ---- wiring -------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', () => signOut(''));
    $('load-btn').addEventListener('click', () => loadMapping(false));
    $('validate-btn').addEventListener('click', validate);
    $('save-btn').addEventListener('click', save);
    $('history-btn').addEventListener('click', loadHistory);
    $('dead-btn').addEventListener('click', loadDead);
    $('monitoring-btn').addEventListener('click', loadMonitoring);
    $('preview-form').addEventListener('submit', runPreview);
    $('flow').addEventListener('change', previewSourceChanged);
    document.querySelectorAll('input[name=source]').forEach((r) => r.addEventListener('change', previewSourceChanged));
    const doc = $('doc');
    doc.addEventListener('input', () => { renderGutter(); markDirty(); });
    doc.addEventListener('scroll', () => { $('gutter').scrollTop = doc.scrollTop; });
    doc.addEventListener('keydown', (e) => {
      // Tab indents by two spaces, as YAML wants; Escape leaves the editor.
      if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && doc.dataset.tabs !== 'off') {
        e.preventDefault();
        const s = doc.selectionStart;
        doc.setRangeText('  ', s, doc.selectionEnd, 'end');
        renderGutter(); markDirty();
      } else if (e.key === 'Escape') {
        doc.dataset.tabs = 'off';
        announce('Tab now moves focus out of the editor.');
      }
    });
    doc.addEventListener('blur', () => { doc.dataset.tabs = ''; });
    window.addEventListener('beforeunload', (e) => {
      if (!$('app').hidden && doc.value !== state.loadedText) { e.preventDefault(); e.returnValue = ''; }
    });
    previewSourceChanged();
    renderGutter();
    if (token()) start(null); else signedIn(false);
  });
})();
