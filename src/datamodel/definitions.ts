/**
 * Shapes of the compact data-model definitions that `generate.ts` derives from the
 * Broadband Forum data-model XML and that the runtime (`model.ts`) loads.
 *
 * Paths are full path patterns with `{i}` for instance numbers. For the root models
 * (Device:1, InternetGatewayDevice:1) they start with the root name; for the service
 * model (VoiceService:1.1) they start with `VoiceService.{i}.` and are mounted below
 * `<root>.Services.` at run time (model-level parameters such as
 * `VoiceServiceNumberOfEntries` then live directly in `<root>.Services.`).
 */

import type { XsdType } from '../cwmp/types.ts';

/** BBF `activeNotify` attribute; `normal` when the XML leaves it out. */
export type ActiveNotify = 'normal' | 'canDeny' | 'forceEnabled' | 'forceDefaultEnabled';

export type Access = 'readOnly' | 'readWrite';

/** An inclusive numeric range; a missing bound is open. Values stay strings in JSON for 64-bit safety. */
export interface RangeDef {
  min?: string;
  max?: string;
  step?: string;
}

/** Definition of one parameter (shared by every device that uses the model). */
export interface ParamDef {
  /** Full path pattern, e.g. `Device.ManagementServer.URL`. */
  path: string;
  /** Base xsd type on the wire; lists are `string` with `list` set. */
  type: XsdType;
  access: Access;
  /** Comma-separated list; `enumeration`/`pattern`/`itemType` facets apply to each item. */
  list?: boolean;
  /** Type of each item of a list (only when not `string`). */
  itemType?: XsdType;
  /** Max length of the whole list value (list facet). */
  listMaxLength?: number;
  /** Max / min length of the (item) string. */
  maxLength?: number;
  minLength?: number;
  ranges?: RangeDef[];
  enumeration?: string[];
  /** Relative or absolute path of a list parameter whose items are the allowed values. */
  enumerationRef?: string;
  /** Value allowed besides the referenced enumeration (BBF `nullValue`). */
  enumerationRefNull?: string;
  /** Regular expressions (XSD syntax, whole-value match); the value must match one of them. */
  patterns?: string[];
  /** Default value (`object` or `factory` default of the BBF XML). */
  default?: string;
  defaultType?: 'object' | 'factory' | 'implementation' | 'parameter';
  forcedInform?: boolean;
  activeNotify?: ActiveNotify;
  /** `hidden` / `secured` in the XML: reads back as an empty string. */
  hidden?: boolean;
  /** Named data type the syntax referred to (informational). */
  dataType?: string;
  units?: string;
  /** BBF `status` when not current (deprecated / obsoleted). */
  status?: string;
  /** The definition came from a vendor profile, not from the BBF XML. */
  vendor?: boolean;
}

/** Definition of one object (single or multi-instance). */
export interface ObjectDef {
  /** Full path pattern ending with `.`; multi-instance objects end with `.{i}.`. */
  path: string;
  /** For multi-instance objects: `readWrite` = AddObject / DeleteObject allowed. */
  access: Access;
  multi: boolean;
  minEntries?: number;
  /** `unbounded` is left out. */
  maxEntries?: number;
  /** Name of the parameter (in the parent object) that counts the instances. */
  numEntriesParameter?: string;
  enableParameter?: string;
  status?: string;
  vendor?: boolean;
}

/** The JSON written by `generate.ts`. */
export interface GeneratedModel {
  meta: {
    /** e.g. `Device:1.14`. */
    model: string;
    /** Where this was derived from (BBF file names and spec URNs). */
    sources: { file: string; spec?: string }[];
    generatedBy: string;
    /** The Broadband Forum copyright and BSD licence text of the source files. */
    license: string;
    /** For service models: the model-level parameters are mounted in this object of the root. */
    mountPoint?: string;
  };
  objects: ObjectDef[];
  parameters: ParamDef[];
}
