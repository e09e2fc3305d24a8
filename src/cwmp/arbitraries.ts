/**
 * TEST-ONLY (imports fast-check, a dev dependency): fast-check arbitraries for
 * CWMP messages, derived from the same message table as the codec, producing
 * values that are valid for a given CWMP version (so buildEnvelope accepts them
 * and the result validates against the BBF schema). Strings are arbitrary Unicode
 * (astral planes included) minus the characters XML 1.0 cannot carry.
 */
import fc from 'fast-check';
import { MESSAGES, OPERATION_FIELDS, schemaGen, type FieldSpec, type SchemaGen, type ValueType } from './messages.ts';
import type { CwmpEnvelope, CwmpHeader, CwmpMessage, CwmpVersion, ParameterValueStruct, SoapFault, XsdType } from './types.ts';
import { XSD_TYPES } from './values.ts';
import { stripIllegalXmlChars } from './xml.ts';

const SHORT = 12;
const MAX_ARRAY = 4;

/** Any XML-legal string of at most `maxLength` code points. */
export function xmlString(maxLength = SHORT): fc.Arbitrary<string> {
  return fc.string({ unit: 'binary', maxLength }).map(stripIllegalXmlChars);
}

const dateTimeArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    fc.constantFrom('', '.5', '.123456', '.000'),
    fc.constantFrom('Z', '', '+01:00', '-05:30', '+14:00', '-00:00'),
  )
  .map(([d, frac, tz]) => `${d.toISOString().slice(0, 19)}${frac}${tz}`);

export const dateTimeArbitrary = fc.oneof(dateTimeArb, fc.constant('0001-01-01T00:00:00Z'));

const bytes = fc.uint8Array({ maxLength: 24 });

/** A value valid for xsd type `t`. */
export function xsdValue(t: XsdType): fc.Arbitrary<string> {
  switch (t) {
    case 'string':
      return xmlString(40);
    case 'int':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(String);
    case 'unsignedInt':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(String);
    case 'long':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
    case 'unsignedLong':
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
    case 'boolean':
      return fc.constantFrom('true', 'false', '1', '0');
    case 'dateTime':
      return dateTimeArbitrary;
    case 'base64':
      return bytes.map((b) => Buffer.from(b).toString('base64'));
    case 'hexBinary':
      return fc.tuple(bytes, fc.boolean()).map(([b, up]) => (up ? Buffer.from(b).toString('hex').toUpperCase() : Buffer.from(b).toString('hex')));
    case 'decimal':
      return fc.tuple(fc.integer(), fc.nat(), fc.boolean()).map(([i, f, frac]) => (frac ? `${i}.${f}` : String(i)));
  }
}

export const parameterValueStruct: fc.Arbitrary<ParameterValueStruct> = fc
  .constantFrom(...XSD_TYPES)
  .chain((type) =>
    fc.record(
      {
        name: xmlString(60),
        value: xsdValue(type),
        type: fc.constant(type),
        untyped: type === 'string' ? fc.constant(true as const) : fc.constant(undefined),
      },
      { requiredKeys: ['name', 'value', 'type'], noNullPrototype: true },
    ),
  )
  .map((p) => {
    if (p.untyped === undefined) delete p.untyped;
    return p as ParameterValueStruct;
  });

const EVENT_CODES_ALL_GENS = [
  '0 BOOTSTRAP', '1 BOOT', '2 PERIODIC', '3 SCHEDULED', '4 VALUE CHANGE', '6 CONNECTION REQUEST', '7 TRANSFER COMPLETE',
  'M Reboot', 'M Download', 'M X_GRANDSTREAM_Provision', 'X 000B82 Provisioned',
];
const EVENT_CODES_GEN2 = ['10 AUTONOMOUS TRANSFER COMPLETE', '13 WAKEUP', '14 HEARTBEAT', 'M ScheduleDownload', 'X GRANDSTREAM Custom event'];

/** Fields whose schema facet is a pattern: generated from examples valid in every generation (or per generation). */
function override(field: FieldSpec, gen: SchemaGen, method: string): fc.Arbitrary<unknown> | undefined {
  switch (field.el) {
    case 'EventCode':
      return fc.constantFrom(...EVENT_CODES_ALL_GENS, ...(gen === 2 ? EVENT_CODES_GEN2 : []));
    case 'FileType':
      if (method === 'Upload') return fc.constantFrom('1 Vendor Configuration File', '2 Vendor Log File', 'X 000B82 Debug Dump');
      return fc.constantFrom('1 Firmware Upgrade Image', '2 Web Content', '3 Vendor Configuration File', 'X 000B82 Ring Tone');
    case 'WindowMode':
      return fc.constantFrom('1 At Any Time', '2 Immediately', '3 When Idle', '4 Confirmation Needed', 'X 000B82 Night');
    case 'OUI':
      return fc.stringMatching(/^[0-9A-F]{6}$/);
    case 'ObjectName':
      return fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `${stripIllegalXmlChars(s).replace(/[\r\n]/g, '')}.`);
    case 'UUID':
      return fc.uuid();
    case 'Notification':
      return fc.constantFrom(...(gen === 2 ? [0, 1, 2, 3, 4, 5, 6] : [0, 1, 2]));
    case 'FaultCode':
      // FaultStruct of (Autonomous)TransferComplete and the deployment-unit fault: codes valid in every generation.
      return method.includes('DUState') ? fc.constantFrom(0, 9001, 9003, 9012, 9013, 9022, 9032) : fc.constantFrom(0, 9001, 9002, 9010, 9011, 9012);
    default:
      return undefined;
  }
}

function valueArb(type: ValueType, gen: SchemaGen, method: string, field?: FieldSpec): fc.Arbitrary<unknown> {
  const o = field && override(field, gen, method);
  if (o) return o;
  switch (type.t) {
    case 'scalar': {
      if (type.enumeration) return fc.constantFrom(...type.enumeration);
      switch (type.kind) {
        case 'string':
          return xmlString(Math.min(type.maxLength ?? 40, 40));
        case 'anyURI':
          return fc.webUrl();
        case 'uint':
          return fc.integer({ min: type.min ?? 0, max: 2 ** 32 - 1 });
        case 'int':
          return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
        case 'bool':
        case 'intBool':
          return fc.boolean();
        case 'dateTime':
          return dateTimeArbitrary;
        case 'uintText':
          return fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(String);
        case 'base64':
          return xsdValue('base64');
      }
      break;
    }
    case 'struct':
      return recordArb(type.fields, gen, method);
    case 'array':
      return fc.array(valueArb(type.of, gen, method), { minLength: type.minItems ?? 0, maxLength: Math.min(type.maxItems ?? MAX_ARRAY, MAX_ARRAY) });
    case 'custom':
      if (type.name === 'ParameterValueStruct') return parameterValueStruct;
      return fc.oneof(
        ...(['Install', 'Update', 'Uninstall'] as const).map((op) =>
          recordArb(OPERATION_FIELDS[op], gen, method).map((r) => ({ op, ...(r as object) })),
        ),
      );
  }
  throw new Error(`no arbitrary for ${JSON.stringify(type)}`);
}

function recordArb(fields: readonly FieldSpec[], gen: SchemaGen, method: string): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const required: string[] = [];
  for (const f of fields) {
    const item = valueArb(f.type, gen, method, f);
    model[f.prop] = f.repeated ? fc.array(item, { minLength: f.repeated.minItems, maxLength: MAX_ARRAY }) : item;
    if (!f.optional) required.push(f.prop);
  }
  return fc.record(model, { requiredKeys: required, noNullPrototype: true });
}

const CODES_ALL_GENS = [9000, 9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008, 9009, 9010, 9011, 9012, 9013, 8000, 8001, 8002, 8003, 8004, 8005, 9800, 8899];

export function faultArbitrary(): fc.Arbitrary<SoapFault> {
  return fc.record(
    {
    method: fc.constant('Fault' as const),
    faultcode: fc.constantFrom('Client' as const, 'Server' as const),
    faultstring: xmlString(),
    faultCode: fc.constantFrom(...CODES_ALL_GENS),
    faultString: xmlString(40),
    setParameterValuesFaults: fc.array(
      fc.record({ parameterName: xmlString(40), faultCode: fc.constantFrom(9005, 9006, 9007, 9008, 9801), faultString: xmlString(40) }, { noNullPrototype: true }),
      { maxLength: MAX_ARRAY },
    ),
    },
    { noNullPrototype: true },
  );
}

/** Any message (body) valid in CWMP version `v`. */
export function messageArbitrary(v: CwmpVersion): fc.Arbitrary<CwmpMessage> {
  const gen = schemaGen(v);
  const arbs = [...MESSAGES.values()]
    .filter((m) => m.since <= gen)
    .map((m) => recordArb(m.fields, gen, m.method).map((r) => ({ method: m.method, ...r }) as unknown as CwmpMessage));
  return fc.oneof(...arbs, faultArbitrary());
}

/** Any header valid in CWMP version `v`. */
export function headerArbitrary(v: CwmpVersion): fc.Arbitrary<CwmpHeader> {
  const versionList = fc.constantFrom('1.0', '1.0,1.1,1.2', '1.0,1.1,1.2,1.3,1.4', '1.4');
  return fc.record(
    {
      id: xmlString(20),
      holdRequests: fc.boolean(),
      ...(v === '1.3' || v === '1.4' ? { sessionTimeout: fc.integer({ min: 0, max: 2 ** 32 - 1 }) } : {}),
      ...(v === '1.4' ? { supportedCwmpVersions: versionList, useCwmpVersion: fc.constantFrom('1.2', '1.3', '1.4') } : {}),
    },
    { requiredKeys: [], noNullPrototype: true },
  ) as fc.Arbitrary<CwmpHeader>;
}

export const versionArbitrary: fc.Arbitrary<CwmpVersion> = fc.constantFrom('1.0', '1.1', '1.2', '1.3', '1.4');

/** A version and an envelope valid in it. */
export const envelopeArbitrary: fc.Arbitrary<{ version: CwmpVersion; envelope: CwmpEnvelope }> = versionArbitrary.chain((version) =>
  fc.record({ header: headerArbitrary(version), body: messageArbitrary(version) }, { noNullPrototype: true }).map((envelope) => ({ version, envelope })),
);
