/** The running activity's heartbeat, for router code that is also used outside activities. */
import { Context } from '@temporalio/activity';

/**
 * The current activity's heartbeat, or undefined outside an activity (scripts, direct use) and in
 * a local activity, which has no heartbeat of its own (the SDK extends its workflow task instead).
 */
export function activityHeartbeat(): ((details: unknown) => void) | undefined {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return undefined;
  }
  if (ctx.info.isLocal) return undefined;
  return (details) => ctx.heartbeat(details);
}
