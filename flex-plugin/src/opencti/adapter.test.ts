import { openCTI, CTIError } from './adapter';
import { FakeOpenCTI, windowWith } from '../../test/fakes/opencti';

describe('Open CTI adapter', () => {
  it('registers the click-to-dial listener and enables click-to-dial', async () => {
    const fake = new FakeOpenCTI();
    const cti = openCTI(windowWith(fake));
    const clicks: any[] = [];
    await cti.onClickToDial((p) => clicks.push(p));
    expect(fake.enabled).toBe(true);
    fake.click({ number: '(718) 555-0199', recordId: '003RM00000Qx1a2YAB', objectType: 'Contact' });
    fake.click({ number: '', recordId: '003RM00000Qx1a2YAB' }); // no number: ignored
    expect(clicks).toEqual([{ number: '(718) 555-0199', recordId: '003RM00000Qx1a2YAB', objectType: 'Contact' }]);
  });

  it('screen-pops a record as an SObject', async () => {
    const fake = new FakeOpenCTI();
    await openCTI(windowWith(fake)).screenPop('003RM00000Qx1a2YAB');
    expect(fake.pops).toEqual([{ type: 'sobject', params: { recordId: '003RM00000Qx1a2YAB' } }]);
  });

  it('turns failed callbacks into errors', async () => {
    const fake = new FakeOpenCTI();
    fake.enableFails = true;
    fake.screenPopFails = true;
    const cti = openCTI(windowWith(fake));
    await expect(cti.onClickToDial(() => undefined)).rejects.toBeInstanceOf(CTIError);
    await expect(cti.screenPop('003RM00000Qx1a2YAB')).rejects.toBeInstanceOf(CTIError);
  });

  it('says so when Open CTI is not loaded', async () => {
    const cti = openCTI(windowWith());
    expect(cti.available()).toBe(false);
    await expect(cti.screenPop('003RM00000Qx1a2YAB')).rejects.toThrow('not loaded');
  });
});
