/**
 * A hand-driven CWMP session for the scale tests: a sample Inform (serial and ConnectionRequestURL
 * chosen by the test; null keeps the sample's URL), then the empty POST that ends it.
 */
import { buildEnvelope } from '../../src/cwmp/codec.ts';
import { sampleInform } from '../../src/cwmp/samples.ts';

/**
 * One CWMP session by hand: the Inform, then the empty POST that ends it (unless `keepOpen`).
 * @returns the Inform's HTTP status and `finish` (the empty POST; resolves its status).
 */
export async function informSession(cwmpUrl: string, serial: string, crUrl: string | null, keepOpen = false): Promise<{ status: number; finish: () => Promise<number> }> {
  const inform = sampleInform();
  inform.deviceId = { ...inform.deviceId, serialNumber: serial };
  if (crUrl !== null) inform.parameterList = inform.parameterList.map((p) => (p.name.endsWith('ConnectionRequestURL') ? { ...p, value: crUrl } : p));
  const body = buildEnvelope({ header: { id: '1' }, body: inform }, { version: '1.2' });
  const res = await fetch(cwmpUrl, { method: 'POST', headers: { 'content-type': 'text/xml; charset="utf-8"' }, body });
  await res.arrayBuffer();
  const cookie = res.headers.get('set-cookie')?.split(';')[0] ?? '';
  const finish = async () => {
    const end = await fetch(cwmpUrl, { method: 'POST', headers: { cookie }, body: '' });
    await end.arrayBuffer();
    return end.status;
  };
  if (!keepOpen && res.status === 200) await finish();
  return { status: res.status, finish };
}
