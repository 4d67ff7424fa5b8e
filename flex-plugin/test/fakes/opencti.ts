// A hand-written fake of Salesforce's window.sforce.opencti (Lightning
// Experience): click-to-dial listener, enableClickToDial and screenPop with
// their {success, returnValue, errors} callbacks.
export class FakeOpenCTI {
  SCREENPOP_TYPE = { SOBJECT: 'sobject' };
  listener?: (payload: any) => void;
  enabled = false;
  enableFails = false;
  screenPopFails = false;
  readonly pops: { type: string; params: { recordId: string } }[] = [];

  onClickToDial(args: { listener: (payload: any) => void }): void {
    this.listener = args.listener;
  }

  enableClickToDial(args: { callback?: (r: any) => void }): void {
    this.enabled = !this.enableFails;
    setTimeout(() => args.callback?.({ success: !this.enableFails, returnValue: null, errors: this.enableFails ? ['no'] : null }), 0);
  }

  screenPop(args: { type: string; params: { recordId: string }; callback?: (r: any) => void }): void {
    if (!this.screenPopFails) this.pops.push({ type: args.type, params: args.params });
    setTimeout(() => args.callback?.({ success: !this.screenPopFails, returnValue: null, errors: null }), 0);
  }

  // click plays a tracer's click on a phone field.
  click(payload: { number: string; recordId: string; objectType?: string; recordName?: string }): void {
    if (!this.listener) throw new Error('click-to-dial listener not registered');
    this.listener(payload);
  }
}

export function windowWith(cti?: FakeOpenCTI): { sforce?: { opencti?: FakeOpenCTI } } {
  return cti ? { sforce: { opencti: cti } } : {};
}
