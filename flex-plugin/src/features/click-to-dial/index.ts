// Click-to-dial with context: a click on a phone field in Salesforce starts
// Flex's StartOutboundCall; before the call is placed, the bridge's context
// for the record goes into taskAttributes, or the call is aborted and the
// tracer told why (not callable, opted out, unknown record, bridge down).
import type { Deps } from '../../deps';
import { BridgeError } from '../../bridge/client';
import { N } from '../../notifications';

export async function registerClickToDial(deps: Deps): Promise<void> {
  deps.actions.addListener('beforeStartOutboundCall', (payload, abort) => addContext(deps, payload, abort));
  if (!deps.cti.available()) {
    deps.log?.('Open CTI not available: click-to-dial is off');
    return;
  }
  await deps.cti.onClickToDial((p) => {
    deps.actions
      .invokeAction('StartOutboundCall', {
        destination: p.number,
        taskAttributes: { crm: { record_id: p.recordId, object: p.objectType } },
      })
      .catch(() => deps.log?.('StartOutboundCall failed'));
  });
}

// addContext is the beforeStartOutboundCall listener. It acts only on calls
// that name a record (a dial-pad call passes untouched), and keeps whatever
// other plugins put in taskAttributes.
export async function addContext(deps: Deps, payload: any, abort: () => void): Promise<void> {
  const crm = payload?.taskAttributes?.crm;
  const recordId = crm && typeof crm.record_id === 'string' ? crm.record_id : '';
  if (!recordId) return;
  try {
    const ctx = await deps.bridge.recordContext(recordId);
    payload.taskAttributes = {
      ...payload.taskAttributes,
      ...ctx,
      crm: { ...crm, ...(ctx.crm ?? {}) },
    };
  } catch (e) {
    abort();
    const reason =
      e instanceof BridgeError
        ? e.refused
          ? e.message
          : 'the bridge is unavailable; try again in a moment'
        : 'the record context could not be read';
    deps.notifications.showNotification(N.callRefused, { reason });
  }
}
