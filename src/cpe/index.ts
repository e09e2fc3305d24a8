/**
 * Public entry point of the CPE agent (simulated Grandstream devices speaking TR-069).
 * See README.md in this folder for the design, the CLI and the firmware image format.
 */
export { CpeAgent, SessionGate, type CpeAgentOptions, type CpeRuntime, type PersistedCpeState, type Provisioning, type Tr069Settings } from './agent.ts';
export { ConnectionRequestServer } from './connection-request-server.ts';
export { Fleet, fleetSerial, formatFleetStats, type FleetOptions, type FleetStats } from './fleet.ts';
export {
  buildFirmwareImage,
  verifyFirmwareImage,
  FirmwareError,
  FIRMWARE_FAULT_CODES,
  SIMULATED_FIRMWARE_KEY_JWK,
  defaultFirmwareSigningKey,
  defaultFirmwareVerifyKey,
  type BuildFirmwareOptions,
  type FirmwareHeader,
} from './firmware.ts';
export { LineSimulator, type LineSimulationOptions } from './line-sim.ts';
export { FileStateStore, MemoryStateStore, NullStateStore, writeFileAtomic, type StateStore } from './persistence.ts';
export { retryDelayMs, retryRange, seededRandom } from './retry.ts';
export { FakeScheduler, RealScheduler, type Scheduler } from './scheduler.ts';
export { runSession, type SessionResult } from './session.ts';
export { UdpConnectionRequestEndpoint } from './udp-endpoint.ts';
export { CpeWebServer } from './web.ts';
