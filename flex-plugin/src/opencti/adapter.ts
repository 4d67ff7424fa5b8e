// The only module that touches Salesforce Open CTI (window.sforce.opencti,
// Lightning Experience API 38.0+). Open CTI retires on 2028-02-28: the next
// integration (Service Cloud Voice, or a CTI shim) replaces this file and
// keeps the CTI interface; nothing else in the plugin names sforce.

// What a click on a phone field in Salesforce hands over.
export interface ClickToDialPayload {
  number: string;
  recordId: string;
  objectType?: string;
  recordName?: string;
}

export interface CTI {
  // Whether the page runs inside Salesforce's softphone frame.
  available(): boolean;
  // Calls listener for each click on a phone field, and turns click-to-dial on.
  onClickToDial(listener: (p: ClickToDialPayload) => void): Promise<void>;
  // Opens the record in the Salesforce console.
  screenPop(recordId: string): Promise<void>;
}

// Open CTI's callback argument: {success, returnValue, errors}.
interface OpenCTIResponse {
  success: boolean;
  returnValue?: unknown;
  errors?: unknown;
}

interface OpenCTI {
  SCREENPOP_TYPE: { SOBJECT: string };
  onClickToDial(args: { listener: (payload: ClickToDialPayload) => void }): void;
  enableClickToDial(args: { callback?: (r: OpenCTIResponse) => void }): void;
  screenPop(args: { type: string; params: { recordId: string }; callback?: (r: OpenCTIResponse) => void }): void;
}

type WindowWithSforce = { sforce?: { opencti?: OpenCTI } };

export class CTIError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CTIError';
  }
}

export function openCTI(win: WindowWithSforce = globalThis as unknown as WindowWithSforce): CTI {
  const api = (): OpenCTI => {
    const o = win.sforce?.opencti;
    if (!o) throw new CTIError('Salesforce Open CTI is not loaded (is Flex running inside the Salesforce softphone?)');
    return o;
  };
  const call = (fn: (cb: (r: OpenCTIResponse) => void) => void, what: string) =>
    new Promise<void>((resolve, reject) => {
      fn((r) => (r && r.success ? resolve() : reject(new CTIError(`Open CTI ${what} failed`))));
    });
  return {
    available: () => Boolean(win.sforce?.opencti),
    async onClickToDial(listener) {
      const o = api();
      o.onClickToDial({
        listener: (p) => {
          if (p && typeof p.number === 'string' && p.number) listener(p);
        },
      });
      await call((cb) => o.enableClickToDial({ callback: cb }), 'enableClickToDial');
    },
    async screenPop(recordId) {
      const o = api();
      return call(
        (cb) => o.screenPop({ type: o.SCREENPOP_TYPE.SOBJECT, params: { recordId }, callback: cb }),
        'screenPop',
      );
    },
  };
}
