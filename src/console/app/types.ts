/** Shapes of the REST API's answers, as the console uses them. */

export interface Device {
  id: string;
  manufacturer: string;
  oui: string;
  productClass: string;
  serialNumber: string;
  firstContact: string | null;
  lastContact: string | null;
  lastBoot: string | null;
  lastBootstrap: string | null;
  sourceAddress: string | null;
  softwareVersion: string | null;
  hardwareVersion: string | null;
  connectionRequestUrl: string | null;
  udpConnectionRequestAddress: string | null;
  cwmpVersion: string | null;
  tags: string[];
  credentials: { acsUsername: string | null; connectionRequestUsername: string | null; acsPasswordSet: boolean; connectionRequestPasswordSet: boolean };
}

export interface DevicePage {
  devices: Device[];
  total: number;
  limit: number;
  offset: number;
  nextCursor: string | null;
}

export interface Parameter {
  name: string;
  value: string | null;
  type: string | null;
  writable: boolean | null;
  notification: number | null;
  accessList: string[] | null;
  object: boolean;
  updatedAt: string;
}

export type TaskStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Task {
  id: string;
  deviceId: string;
  type: string;
  payload: Record<string, unknown>;
  status: TaskStatus;
  result: unknown;
  faultCode: number | null;
  faultString: string | null;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  connectionRequest: boolean;
}

export interface ConnectionRequestResult {
  status: string;
  transport: string;
  httpStatus?: number;
  detail: string;
}

export interface TaskAnswer {
  task: Task;
  connectionRequest?: ConnectionRequestResult;
}

export interface Fault {
  id: string;
  deviceId: string;
  taskId: string | null;
  source: string;
  code: string;
  message: string;
  detail: unknown;
  at: string;
}

export interface SessionRecord {
  id: string;
  deviceId: string;
  startedAt: string;
  endedAt: string | null;
  events: { eventCode: string; commandKey: string }[];
  remoteAddress: string | null;
  cwmpVersion: string | null;
  outcome: string;
  rpcCount: number;
  detail: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface User {
  id: string;
  username: string;
  role: 'admin' | 'operator' | 'viewer';
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}
