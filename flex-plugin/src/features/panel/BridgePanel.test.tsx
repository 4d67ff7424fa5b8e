import React from 'react';
import ReactDOM from 'react-dom';
import { act } from 'react-dom/test-utils';
import { BridgePanel } from './BridgePanel';
import { NAMED_CONTACT_REMINDER } from '../privacy/NamedContactReminder';
import { flush, world } from '../../../test/fakes/deps';
import { FakeTask } from '../../../test/fakes/flex';

const A = { record_id: '003RM00000Qx1a2YAB', object: 'Contact', label: 'Avery' };
const B = { record_id: '003RM00000Qx1a3YAB', object: 'Contact', label: 'Blake' };

let root: HTMLDivElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.appendChild(root);
});
afterEach(() => {
  ReactDOM.unmountComponentAtNode(root);
  root.remove();
});

async function render(el: React.ReactElement) {
  await act(async () => {
    ReactDOM.render(el, root);
    await flush();
  });
}

const q = (id: string) => root.querySelector(`[data-testid="${id}"]`);

describe('BridgePanel', () => {
  it('the picker links the record the tracer picks', async () => {
    const w = world();
    w.bridge.routes['/v1/wrapup'] = { status: 200, body: { dispositions: ['Reached'] } };
    const task = new FakeTask('WT1', { direction: 'inbound', from: '+17185550199' });
    w.deps.store.update('WT1', { caller: { kind: 'several', matches: [A, B] } });
    await render(<BridgePanel deps={w.deps} task={task} />);
    const buttons = Array.from(root.querySelectorAll('[data-testid="caller-picker"] button'));
    expect(buttons.map((b) => b.textContent)).toEqual(['Avery Contact', 'Blake Contact']);
    await act(async () => {
      (buttons[1] as HTMLButtonElement).click();
      await flush();
    });
    expect(task.attributes.crm).toEqual({ record_id: B.record_id, object: 'Contact' });
    expect(w.cti!.pops[0].params.recordId).toBe(B.record_id);
    expect(q('caller-picked')?.textContent).toContain('Blake');
  });

  it('says unknown caller when no record holds the number', async () => {
    const w = world();
    w.deps.store.update('WT1', { caller: { kind: 'none' } });
    await render(<BridgePanel deps={w.deps} task={new FakeTask('WT1', { direction: 'inbound', from: '+1' })} />);
    expect(q('caller-unknown')?.textContent).toContain('Unknown caller');
    expect(q('wrapup-panel')).toBeNull(); // no record: nothing to write back
  });

  it('shows the bridge context, the named-contact reminder and the wrap-up choices on an outreach call', async () => {
    const w = world();
    w.bridge.routes['/v1/wrapup'] = { status: 200, body: { dispositions: ['Reached', 'No answer'] } };
    const task = new FakeTask('WT1', {
      direction: 'outbound',
      crm: { record_id: A.record_id, object: 'Contact', name: 'Quinn', language: 'es', nested: { x: 1 } },
    });
    await render(<BridgePanel deps={w.deps} task={task} />);
    expect(q('crm-context')?.textContent).toContain('Quinn');
    expect(q('crm-context')?.textContent).not.toContain('nested');
    expect(q('named-contact-reminder')?.textContent).toContain(NAMED_CONTACT_REMINDER);
    const options = Array.from(root.querySelectorAll('[data-testid="wrapup-outcome"] option')).map((o) => o.textContent);
    expect(options).toEqual(['Choose…', 'Reached', 'No answer']);
    const date = q('wrapup-follow-up') as HTMLInputElement;
    expect(date.min).toBe('2026-11-30');
  });

  it('no reminder on an inbound call', async () => {
    const w = world();
    w.bridge.routes['/v1/wrapup'] = { status: 200, body: { dispositions: [] } };
    await render(<BridgePanel deps={w.deps} task={new FakeTask('WT1', { direction: 'inbound', crm: { record_id: A.record_id } })} />);
    expect(q('named-contact-reminder')).toBeNull();
    expect(q('wrapup-panel')).not.toBeNull();
  });
});
