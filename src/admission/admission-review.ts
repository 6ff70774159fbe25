// Decoding of AdmissionReview requests (admission.k8s.io/v1 and v1beta1) into the engine's AdmissionRequest.
// Decoding is kept apart from deciding: this module only says whether a body is a usable review and why not.

import { findDepthViolation, MAX_JSON_DEPTH } from '../common/json-depth.js';
import { formatPointer } from '../common/json-pointer.js';
import {
  OPERATIONS,
  type AdmissionRequest,
  type GroupVersionKind,
  type GroupVersionResource,
  type JsonObject,
  type Operation,
  type UserInfo,
} from '../engine/types.js';

export const ADMISSION_V1 = 'admission.k8s.io/v1';
export const ADMISSION_V1BETA1 = 'admission.k8s.io/v1beta1';
export const ADMISSION_REVIEW_VERSIONS: readonly AdmissionReviewVersion[] = [ADMISSION_V1, ADMISSION_V1BETA1];
export type AdmissionReviewVersion = typeof ADMISSION_V1 | typeof ADMISSION_V1BETA1;

export interface DecodedAdmissionReview {
  ok: true;
  /** The version the review was sent in; the answer must use the same one. */
  apiVersion: AdmissionReviewVersion;
  request: AdmissionRequest;
}

export interface RejectedAdmissionReview {
  ok: false;
  /** What is wrong with the body, phrased for the caller (ends up in a 400 answer). */
  message: string;
  /** The request's uid when one could be read, for logs. */
  uid?: string;
}

export type AdmissionReviewDecoding = DecodedAdmissionReview | RejectedAdmissionReview;

const OPERATION_SET: ReadonlySet<string> = new Set(OPERATIONS);
const EXPECTED_VERSIONS = `${ADMISSION_V1} or ${ADMISSION_V1BETA1}`;

class DecodeError extends Error {}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  return `a ${typeof value}`;
}

function optionalString(owner: JsonObject, key: string, where: string): string | undefined {
  const value = owner[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new DecodeError(`${where}.${key} must be a string, got ${describe(value)}`);
  return value;
}

function requiredString(owner: JsonObject, key: string, where: string, allowEmpty: boolean): string {
  const value = owner[key];
  if (typeof value !== 'string') {
    throw new DecodeError(value === undefined ? `${where}.${key} is missing` : `${where}.${key} must be a string, got ${describe(value)}`);
  }
  if (!allowEmpty && value === '') throw new DecodeError(`${where}.${key} is empty`);
  return value;
}

function optionalObject(owner: JsonObject, key: string, where: string): JsonObject | null {
  const value = owner[key];
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw new DecodeError(`${where}.${key} must be an object or null, got ${describe(value)}`);
  return value;
}

function decodeGroupVersionKind(owner: JsonObject, key: string, required: boolean): GroupVersionKind | undefined {
  const value = owner[key];
  if (value === undefined || value === null) {
    if (required) throw new DecodeError(`request.${key} is missing; expected {group, version, kind}`);
    return undefined;
  }
  if (!isObject(value)) throw new DecodeError(`request.${key} must be an object {group, version, kind}, got ${describe(value)}`);
  const where = `request.${key}`;
  return {
    group: requiredString(value, 'group', where, true),
    version: requiredString(value, 'version', where, false),
    kind: requiredString(value, 'kind', where, false),
  };
}

function decodeGroupVersionResource(owner: JsonObject, key: string, required: boolean): GroupVersionResource | undefined {
  const value = owner[key];
  if (value === undefined || value === null) {
    if (required) throw new DecodeError(`request.${key} is missing; expected {group, version, resource}`);
    return undefined;
  }
  if (!isObject(value)) throw new DecodeError(`request.${key} must be an object {group, version, resource}, got ${describe(value)}`);
  const where = `request.${key}`;
  return {
    group: requiredString(value, 'group', where, true),
    version: requiredString(value, 'version', where, false),
    resource: requiredString(value, 'resource', where, false),
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function decodeUserInfo(request: JsonObject): UserInfo {
  const value = request['userInfo'];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new DecodeError(`request.userInfo must be an object, got ${describe(value)}`);
  // Fields are checked and picked one by one: the caller's object is never merged into ours.
  const userInfo: UserInfo = {};
  const username = optionalString(value, 'username', 'request.userInfo');
  if (username !== undefined) userInfo.username = username;
  const uid = optionalString(value, 'uid', 'request.userInfo');
  if (uid !== undefined) userInfo.uid = uid;
  const groups = value['groups'];
  if (groups !== undefined && groups !== null) {
    if (!isStringArray(groups)) throw new DecodeError('request.userInfo.groups must be an array of strings');
    userInfo.groups = groups;
  }
  const extra = value['extra'];
  if (extra !== undefined && extra !== null) {
    if (!isObject(extra) || !Object.values(extra).every(isStringArray)) {
      throw new DecodeError('request.userInfo.extra must map strings to arrays of strings');
    }
    userInfo.extra = extra as Record<string, string[]>;
  }
  return userInfo;
}

function decodeRequest(request: JsonObject): AdmissionRequest {
  const uid = requiredString(request, 'uid', 'request', false);
  const operationValue = request['operation'];
  if (typeof operationValue !== 'string' || !OPERATION_SET.has(operationValue)) {
    throw new DecodeError(
      operationValue === undefined
        ? `request.operation is missing; expected one of ${OPERATIONS.join(', ')}`
        : `request.operation is ${describe(operationValue)}; expected one of ${OPERATIONS.join(', ')}`,
    );
  }
  const operation = operationValue as Operation;
  const object = optionalObject(request, 'object', 'request');
  const oldObject = optionalObject(request, 'oldObject', 'request');
  if ((operation === 'CREATE' || operation === 'UPDATE') && object === null) {
    throw new DecodeError(`request.object is missing; a ${operation} review must carry the object`);
  }
  if (operation === 'UPDATE' && oldObject === null) {
    throw new DecodeError('request.oldObject is missing; an UPDATE review must carry the previous object');
  }

  const decoded: AdmissionRequest = {
    uid,
    kind: decodeGroupVersionKind(request, 'kind', true) as GroupVersionKind,
    resource: decodeGroupVersionResource(request, 'resource', true) as GroupVersionResource,
    operation,
    userInfo: decodeUserInfo(request),
    object,
    oldObject,
  };
  const subResource = optionalString(request, 'subResource', 'request');
  if (subResource) decoded.subResource = subResource;
  const requestKind = decodeGroupVersionKind(request, 'requestKind', false);
  if (requestKind) decoded.requestKind = requestKind;
  const requestResource = decodeGroupVersionResource(request, 'requestResource', false);
  if (requestResource) decoded.requestResource = requestResource;
  const requestSubResource = optionalString(request, 'requestSubResource', 'request');
  if (requestSubResource) decoded.requestSubResource = requestSubResource;
  const name = optionalString(request, 'name', 'request');
  if (name !== undefined) decoded.name = name;
  const namespace = optionalString(request, 'namespace', 'request');
  if (namespace !== undefined) decoded.namespace = namespace;
  const dryRun = request['dryRun'];
  if (dryRun !== undefined && dryRun !== null) {
    if (typeof dryRun !== 'boolean') throw new DecodeError(`request.dryRun must be a boolean, got ${describe(dryRun)}`);
    decoded.dryRun = dryRun;
  }
  const options = optionalObject(request, 'options', 'request');
  if (options !== null) decoded.options = options;
  return decoded;
}

export interface DecodeOptions {
  /**
   * The caller has already refused anything nested deeper than MAX_JSON_DEPTH (the server measures
   * the raw body before parsing it, common/json-limits.ts): the walk that checks it again is skipped.
   */
  depthChecked?: boolean;
}

/** The decoding of a body the server measured against `maxDepth` before parsing it (measureJson). */
export function decodeOptionsAfterMeasuring(maxDepth: number): DecodeOptions {
  // Within MAX_JSON_DEPTH, the decoder's own walk over the parsed body could find nothing more.
  return { depthChecked: maxDepth <= MAX_JSON_DEPTH };
}

/**
 * Checks that a parsed JSON body is an AdmissionReview this server can answer and turns its `request`
 * into the engine's AdmissionRequest. Never throws: a body that does not fit comes back with a message
 * that says exactly which field is wrong.
 */
export function decodeAdmissionReview(body: unknown, options: DecodeOptions = {}): AdmissionReviewDecoding {
  if (!isObject(body)) {
    return { ok: false, message: `request body is ${describe(body)}, not an AdmissionReview object` };
  }
  const apiVersion = body['apiVersion'];
  if (apiVersion === undefined) {
    return { ok: false, message: `apiVersion is missing; expected ${EXPECTED_VERSIONS}` };
  }
  if (apiVersion !== ADMISSION_V1 && apiVersion !== ADMISSION_V1BETA1) {
    return { ok: false, message: `unsupported apiVersion ${JSON.stringify(apiVersion)}; expected ${EXPECTED_VERSIONS}` };
  }
  const kind = body['kind'];
  if (kind !== 'AdmissionReview') {
    return {
      ok: false,
      message: kind === undefined ? 'kind is missing; expected AdmissionReview' : `kind is ${JSON.stringify(kind)}; expected AdmissionReview`,
    };
  }
  const request = body['request'];
  if (!isObject(request)) {
    return {
      ok: false,
      message: request === undefined ? 'request is missing; an AdmissionReview to answer must carry a request' : `request must be an object, got ${describe(request)}`,
    };
  }
  const tooDeep = options.depthChecked === true ? undefined : findDepthViolation(body);
  if (tooDeep !== undefined) {
    // Refused before anything walks it recursively (CEL conversion, cloning, patching would overflow the stack).
    const uid = typeof request['uid'] === 'string' && request['uid'] !== '' ? request['uid'] : undefined;
    const pointer = formatPointer(tooDeep.slice(0, 12));
    const message = `request body is nested more than ${MAX_JSON_DEPTH} levels deep (at ${pointer}${tooDeep.length > 12 ? '/…' : ''}); no Kubernetes object is`;
    return uid === undefined ? { ok: false, message } : { ok: false, message, uid };
  }
  try {
    return { ok: true, apiVersion, request: decodeRequest(request) };
  } catch (error) {
    if (error instanceof DecodeError) {
      const uid = typeof request['uid'] === 'string' && request['uid'] !== '' ? request['uid'] : undefined;
      return uid === undefined ? { ok: false, message: error.message } : { ok: false, message: error.message, uid };
    }
    throw error;
  }
}
