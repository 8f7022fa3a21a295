/**
 * Server states from HAProxy's `show servers state <backend>` (format version 1, the same in
 * HAProxy 2.4 to 3.x): numeric and documented, unlike the free-text status column of `show stat`.
 */
import { type TrafficProtocolError, TrafficTargetNotFoundError } from '../errors';
import { answerError, garbledAnswerError } from './haproxy-runtime-api';

/** The operational and administrative state of one server. */
export interface HaproxyServerState {
  server: string;
  /** `srv_op_state`: 0 stopped (DOWN), 1 starting (slowstart), 2 running, 3 stopping. */
  opState: number;
  /** `srv_admin_state`: bit flags for forced/inherited/config/DNS maintenance and drain; 0 when none. */
  adminState: number;
  /** `srv_uweight`: the weight last set (what `get weight` reports as current). */
  weight?: number;
}

const OP_STATES = ['DOWN', 'STARTING', 'UP', 'STOPPING'] as const;

// Columns looked up by name, so columns a later HAProxy appends do not shift what we read.
const REQUIRED_COLUMNS = ['be_name', 'srv_name', 'srv_op_state', 'srv_admin_state'] as const;

/**
 * Parses a `show servers state <backend>` answer into the backend's servers by name.
 * @throws TrafficTargetNotFoundError when HAProxy does not know the backend, TrafficProtocolError
 *   for any other answer that is not a well-formed version-1 state dump of that backend.
 */
export function parseServersStateAnswer(
  command: string,
  backend: string,
  answer: string,
): Map<string, HaproxyServerState> {
  const lines = answer.split('\n').filter((l) => l.trim() !== '');
  const garbled = (why: string): TrafficProtocolError => garbledAnswerError(command, answer, why);
  if (lines[0]?.trim() !== '1') {
    if (lines.length === 1 || lines.length === 0) throw answerError(command, backend, (lines[0] ?? '').trim());
    throw garbled('expected format version 1');
  }
  const header = lines[1];
  if (!header?.startsWith('# ')) throw garbled('missing column header');
  const columns = header.slice(2).trim().split(/\s+/);
  const index: Record<string, number> = {};
  for (const name of REQUIRED_COLUMNS) {
    const i = columns.indexOf(name);
    if (i < 0) throw garbled(`no ${name} column`);
    index[name] = i;
  }
  const servers = new Map<string, HaproxyServerState>();
  for (const line of lines.slice(2)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== columns.length) throw garbled(`a row has ${fields.length} fields, the header ${columns.length}`);
    const field = (name: (typeof REQUIRED_COLUMNS)[number]): string => fields[index[name] as number] as string;
    if (field('be_name') !== backend) throw garbled(`row of backend ${field('be_name')}`);
    const opState = Number(field('srv_op_state'));
    const adminState = Number(field('srv_admin_state'));
    if (!/^\d+$/.test(field('srv_op_state')) || opState > 3 || !/^\d+$/.test(field('srv_admin_state'))) {
      throw garbled(`bad state of server ${field('srv_name')}`);
    }
    const weightIndex = columns.indexOf('srv_uweight');
    const weight = weightIndex < 0 ? undefined : Number(fields[weightIndex]);
    if (weight !== undefined && !(Number.isInteger(weight) && weight >= 0)) throw garbled(`bad weight of server ${field('srv_name')}`);
    servers.set(field('srv_name'), { server: field('srv_name'), opState, adminState, ...(weight === undefined ? {} : { weight }) });
  }
  return servers;
}

/** Picks one server from a parsed state dump. @throws TrafficTargetNotFoundError when it is absent. */
export function serverState(
  servers: Map<string, HaproxyServerState>,
  backend: string,
  server: string,
): HaproxyServerState {
  const state = servers.get(server);
  if (!state) {
    throw new TrafficTargetNotFoundError(`HAProxy does not know ${backend}/${server}: no such server`, `${backend}/${server}`, '');
  }
  return state;
}

/**
 * True when HAProxy would send traffic to the server given a weight: running (or slow-starting),
 * with no maintenance or drain flag. A server without health checks is always running, so it
 * counts as usable: HAProxy cannot know better, and neither can we.
 */
export function isServerUsable(state: HaproxyServerState): boolean {
  return (state.opState === 1 || state.opState === 2) && state.adminState === 0;
}

/** A short human-readable state, e.g. "DOWN" or "UP, MAINT". */
export function describeServerState(state: HaproxyServerState): string {
  const op = OP_STATES[state.opState] ?? `op_state ${state.opState}`;
  if (state.adminState === 0) return op;
  // Drain bits are 0x08 (forced) and 0x10 (inherited); every other bit is a maintenance flavour.
  const admin = state.adminState & ~0x18 ? 'MAINT' : 'DRAIN';
  return `${op}, ${admin} (admin_state ${state.adminState})`;
}
