// The demo agent desktop (/demo/agent in `bridge demo`): a Salesforce-like
// record list beside a Flex-like task panel, running the plugin's own
// modules (features, bridge client, Open CTI adapter, panel) against the
// real bridge and the simulators. Only the Flex runtime and Salesforce's
// softphone frame are stood in for (shim.ts, and a window.sforce.opencti
// that the record list drives).
import React, { useEffect, useState } from 'react';
import ReactDOM from 'react-dom';

import { BridgeClient } from '../bridge/client';
import type { Deps } from '../deps';
import { DeskStore } from '../desk/store';
import { registerFeatures } from '../features';
import { BridgePanel } from '../features/panel/BridgePanel';
import { openCTI } from '../opencti/adapter';
import { api, DemoActions, DemoNotifications, DemoTask, TaskJSON } from './shim';

interface Session {
  flex_token: string;
  worker_sid: string;
  inbound_numbers: { label: string; number: string }[];
}
interface Rec {
  id: string;
  name: string;
  mobile?: string;
  phone?: string;
}
interface Activity {
  id: string;
  who: string;
  subject: string;
  status: string;
  disposition?: string;
  activity_date?: string;
  duration?: number;
}

// The Salesforce softphone frame's Open CTI, driven by the record list.
class PageOpenCTI {
  SCREENPOP_TYPE = { SOBJECT: 'sobject' };
  listener?: (p: any) => void;
  popped: (id: string) => void = () => undefined;
  onClickToDial(args: { listener: (p: any) => void }) {
    this.listener = args.listener;
  }
  enableClickToDial(args: { callback?: (r: any) => void }) {
    args.callback?.({ success: true });
  }
  screenPop(args: { params: { recordId: string }; callback?: (r: any) => void }) {
    this.popped(args.params.recordId);
    args.callback?.({ success: true });
  }
}

function App({ session }: { session: Session }) {
  const [, render] = useState(0);
  const rerender = () => render((n) => n + 1);
  const [deps] = useState(() => build(session, rerender));
  const [records, setRecords] = useState<Rec[]>([]);
  const [activities, setActivities] = useState<Activity[]>([]);
  const [popped, setPopped] = useState<string>('');
  const [inbound, setInbound] = useState(session.inbound_numbers[0]?.number ?? '');

  useEffect(() => {
    deps.opencti.popped = setPopped;
    api<{ records: Rec[] }>('GET', '/records').then((r) => setRecords(r.records));
    const poll = () => api<{ activities: Activity[] }>('GET', '/activities').then((a) => setActivities(a.activities)).catch(() => undefined);
    poll();
    const t = setInterval(poll, 1000);
    return () => clearInterval(t);
  }, [deps]);

  const selected = deps.tasks.find((t) => t.taskSid === deps.selected) ?? deps.tasks[0];
  return (
    <div className="desk">
      <header>
        <strong>Tracer's desktop</strong> <span className="muted">demo: Salesforce and Flex are simulated; the bridge is real</span>
        <a href="/demo/">← demo console</a>
      </header>
      <main>
        <section className="sf" aria-label="Salesforce">
          <h2>Salesforce · Contacts</h2>
          <table data-testid="sf-records">
            <thead>
              <tr>
                <th>Name</th>
                <th>Mobile</th>
                <th>Phone</th>
              </tr>
            </thead>
            <tbody>
              {records.map((r) => (
                <tr key={r.id} className={popped === r.id ? 'popped' : ''} data-record-id={r.id}>
                  <td>{r.name}</td>
                  {[r.mobile, r.phone].map((n, i) => (
                    <td key={i}>
                      {n ? (
                        <a href="#" className="dial" onClick={(e) => { e.preventDefault(); deps.opencti.listener?.({ number: n, recordId: r.id, objectType: 'Contact', recordName: r.name }); }}>
                          ☎ {n}
                        </a>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Salesforce · Activities and open follow-ups</h2>
          <table data-testid="sf-activities">
            <thead>
              <tr>
                <th>Contact</th>
                <th>Subject</th>
                <th>Status</th>
                <th>Outcome</th>
                <th>Due</th>
                <th>Talk time</th>
              </tr>
            </thead>
            <tbody>
              {activities.map((a) => (
                <tr key={a.id}>
                  <td>{a.who}</td>
                  <td>{a.subject}</td>
                  <td>{a.status}</td>
                  <td>{a.disposition ?? ''}</td>
                  <td>{a.activity_date ?? ''}</td>
                  <td>{a.duration !== undefined ? `${a.duration} s` : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="flex" aria-label="Flex">
          <h2>Flex · Tasks</h2>
          <div className="inbound">
            <label>
              Simulate an inbound call from{' '}
              <select data-testid="inbound-number" value={inbound} onChange={(e) => setInbound(e.target.value)}>
                {session.inbound_numbers.map((n) => (
                  <option key={n.number} value={n.number}>
                    {n.label}
                  </option>
                ))}
              </select>
            </label>
            <button data-testid="inbound-call" onClick={() => deps.inbound(inbound)}>Ring</button>
          </div>
          <ul className="tasks">
            {deps.tasks.map((t) => (
              <li key={t.taskSid} className={t === selected ? 'sel' : ''} onClick={() => { deps.selected = t.taskSid; rerender(); }}>
                {t.attributes.direction === 'inbound' ? '↘ inbound' : '↗ outbound'} · {t.status} · <code>{t.taskSid.slice(0, 10)}…</code>
              </li>
            ))}
          </ul>
          {selected && (
            <div className="task" data-testid="task" data-task-sid={selected.taskSid} data-status={selected.status}>
              <BridgePanel deps={deps} task={selected} />
              <div className="buttons">
                {selected.status === 'assigned' && (
                  <button data-testid="wrapup" onClick={() => deps.actions.invokeAction('WrapupTask', { task: selected })}>Hang up / wrap up</button>
                )}
                {selected.status !== 'completed' && (
                  <button data-testid="complete" onClick={() => deps.actions.invokeAction('CompleteTask', { task: selected })}>Complete task</button>
                )}
              </div>
              <details>
                <summary>Task attributes (what TaskRouter holds)</summary>
                <pre data-testid="task-attributes">{JSON.stringify(selected.attributes, null, 2)}</pre>
              </details>
            </div>
          )}
        </section>
      </main>
      <div className="toasts">
        {deps.notes.toasts.map((t) => (
          <div key={t.id} className={`toast ${t.type}`} role="alert" data-testid="toast">
            {t.text}
          </div>
        ))}
      </div>
    </div>
  );
}

type DemoDeps = Deps & {
  actions: DemoActions;
  notes: DemoNotifications;
  opencti: PageOpenCTI;
  tasks: DemoTask[];
  selected?: string;
  inbound: (from: string) => Promise<void>;
};

function build(session: Session, rerender: () => void): DemoDeps {
  const actions = new DemoActions();
  const notes = new DemoNotifications();
  notes.onChange = rerender;
  const opencti = new PageOpenCTI();
  const deps: DemoDeps = {
    actions,
    notifications: notes,
    notes,
    opencti,
    bridge: new BridgeClient({ baseUrl: window.location.origin, token: () => session.flex_token }),
    cti: openCTI({ sforce: { opencti } } as any),
    store: new DeskStore(),
    now: Date.now,
    tasks: [],
    inbound: async () => undefined,
  };
  deps.store.subscribe(rerender);
  const adopt = async (t: TaskJSON) => {
    const task = new DemoTask(t);
    task.onChange = rerender;
    deps.tasks = [task, ...deps.tasks];
    deps.selected = task.taskSid;
    rerender();
    await actions.invokeAction('AcceptTask', { task });
  };
  // What Flex itself does for each action, played against the simulator.
  actions.register('StartOutboundCall', async (p) => adopt(await api<TaskJSON>('POST', '/tasks', { attributes: p.taskAttributes ?? {} })));
  actions.register('WrapupTask', async (p) => {
    await api('POST', `/tasks/${p.task.taskSid}/wrapup`);
    p.task.status = 'wrapping';
    rerender();
  });
  actions.register('CompleteTask', async (p) => {
    await api('POST', `/tasks/${p.task.taskSid}/complete`);
    p.task.status = 'completed';
    rerender();
  });
  deps.inbound = async (from: string) => adopt(await api<TaskJSON>('POST', '/inbound', { from }));
  registerFeatures(deps).then(rerender);
  return deps;
}

api<Session>('GET', '/session')
  .then((s) => ReactDOM.render(<App session={s} />, document.getElementById('root')))
  .catch((e) => {
    document.getElementById('root')!.textContent = 'The demo could not start: ' + e.message;
  });
