import { ActionError, type ActionRunner } from './action-error.js';
import type { HttpClient } from './http/request.js';

/** The built-in actions. The integrations work adds the app catalogue behind the same interface. */
export class BuiltInActions implements ActionRunner {
  constructor(private readonly http: HttpClient) {}

  async run(action: string, input: unknown, options: { signal: AbortSignal }): Promise<unknown> {
    if (action === 'http.request') return this.http.run(input, options.signal);
    throw new ActionError('ACTION_UNAVAILABLE', `no installed app provides "${action}"`);
  }
}
