/**
 * The bare limit's servers (src/fleet/bareMailLimit.ts) as a process of their own, for `npm run bench:twin`'s
 * baseline: `bareServers.ts CREDENTIALS_DIR GREETING_DELAY_MS`. Prints one JSON line when listening; SIGINT or SIGTERM closes.
 */
import { startBareServers } from '../src/fleet/bareMailLimit.ts';
import { untilSignal } from '../src/util/signals.ts';

const [credentials, delay] = process.argv.slice(2);
const greetingDelayMs = Number(delay);
if (!credentials || !Number.isSafeInteger(greetingDelayMs) || greetingDelayMs < 0) {
  console.error('usage: bareServers.ts CREDENTIALS_DIR GREETING_DELAY_MS');
  process.exit(2);
}
const servers = await startBareServers(credentials, { greetingDelayMs });
console.log(JSON.stringify({ msg: 'bare listening', httpsPort: servers.httpsPort, smtpPort: servers.smtpPort, accessToken: servers.accessToken }));
await untilSignal();
await servers.close();
