/**
 * Writes channel variables with the fewest round trips (see planVariableWrites). If Asterisk does not know MSet
 * (it has been in Asterisk's core since 1.6, but a stripped build may lack it), falls back to SET VARIABLE.
 */
import { AgiCommandError } from '../lib/errors.js';
import type { AgiChannel } from './agi-channel.js';
import { msetArgument, planVariableWrites } from './route-decision.js';

export async function writeVariables(session: AgiChannel, vars: readonly (readonly [string, string])[]): Promise<void> {
  for (const write of planVariableWrites(vars, session.exec !== undefined)) {
    if (write.kind === 'set') {
      await session.setVariable(write.name, write.value);
      continue;
    }
    try {
      await session.exec!('MSet', msetArgument(write.pairs));
    } catch (err) {
      if (!(err instanceof AgiCommandError)) throw err;
      for (const [name, value] of write.pairs) await session.setVariable(name, value);
    }
  }
}
