/** The part of ding-dong's (untyped, CommonJS) per-connection API the comparison uses. */
declare module 'ding-dong/lib/context.js' {
  import type { Duplex } from 'node:stream';

  interface AgiResponse {
    readonly code: number;
    readonly result: string;
    readonly value?: string;
  }

  class DingDongContext {
    constructor(stream: Duplex, options?: { debug?: boolean });
    onEvent(event: 'variables'): Promise<Record<string, string>>;
    setVariable(name: string, value: string): Promise<AgiResponse>;
    end(): Promise<void>;
  }
  export default DingDongContext;
}
