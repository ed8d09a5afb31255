#!/usr/bin/env -S node --
/**
 * `retailcrm-agi`: the command line. `serve` runs the service (what `npm start` runs); the other commands
 * manage enterprises and extensions in the same database. Bad input exits 2 with a message; other failures 1.
 * The shebang ends Node's options with `--`: Node 20 itself looks for `--env-file` anywhere on its command line
 * (and exits 9 when the file is missing), so run it as `node -- dist/src/cli.js …` too.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { loadConfig, type Config } from './config/config.js';
import { ConfigError, InputError, AppError, errorMessage } from './lib/errors.js';
import { createLogger } from './lib/logger.js';
import { openCliDatabase, withCliContext, type CliOutput } from './cli/cli-context.js';
import { enterpriseCommand, extensionCommand } from './cli/enterprise-commands.js';
import { OUTBOX_USAGE, outboxCommand } from './cli/outbox-commands.js';
import { pbxCommand, registerCommand, unregisterCommand, usersCommand } from './cli/clicktocall-commands.js';
import { REPORT_USAGE, reportCommand } from './cli/report-command.js';
import type { Service } from './main.js';
import { AUDIT_USAGE, auditCommand } from './cli/audit-command.js';
import { BACKUP_USAGE, backupCommand, restoreCommand } from './cli/backup-commands.js';
import { SECRET_USAGE, secretCommand } from './cli/secret-commands.js';
import { CALLS_USAGE, callsCommand } from './cli/calls-commands.js';
import { installSignalHandlers } from './shutdown.js';
import { createPool } from './db/pool.js';
import { migrate } from './db/migrate.js';

const USAGE = `usage: retailcrm-agi <command>

  serve                                   run the FastAGI and HTTP servers (npm start)
  migrate                                 apply database migrations and exit
  enterprise add --number N --crm-url URL --api-key KEY [--client-id ID] [--country BY] [--site CODE]
                 [--auto-create-customers on|off] [--telephony-events on|off]
                 [--skip-manager-on-break on|off] [--timezone Europe/Minsk]
                 [--external-phones SITE=NUMBER,...] [--pbx-addresses CIDR,...] [--skip-check]
                 checks the key first (GET /api/credentials), reads the timezone and sites from RetailCRM
  enterprise check --number N             check the key, scopes, sites and timezone again
  enterprise rotate --number N --what webhook|dashboard|client-id [--skip-register]
                                          a new webhook or dashboard token, or clientId (re-registered)
  enterprise set --number N [any flag of add] [--ami-host H --ami-port 5038 --ami-user U --ami-secret S]
                 [--channel 'PJSIP/{ext}'] [--context rcrm-click-to-call] [--outbound-callerid +375...]
                 [--originate-timeout 30]
  enterprise list
  enterprise show --number N [--json]
  enterprise remove --number N
  extension set --enterprise N --ext 101 --user-id 7
  extension list --enterprise N
  extension remove --enterprise N --ext 101
${OUTBOX_USAGE}
  register --enterprise N [--dry-run]     register the telephony integration module in RetailCRM
  unregister --enterprise N               deactivate it
  users sync --enterprise N [--apply] [--force]   show RetailCRM users and fill the extension mapping
  pbx set|show|test --enterprise N [...]  the enterprise's Asterisk Manager Interface (click-to-call)
${REPORT_USAGE}
${AUDIT_USAGE}
${BACKUP_USAGE}
${SECRET_USAGE}
${CALLS_USAGE}

Configuration comes from environment variables (see README): DATABASE_URL, DATA_DIR, AGI_PORT, HTTP_PORT,
PUBLIC_URL, LOOKUP_BUDGET_MS, SECRET_KEY, SECRET_KEYRING_FILE, LOG_LEVEL, ... and from an environment file, the one
the systemd unit reads: --env-file FILE (anywhere on the line) or RCRM_ENV_FILE=FILE, e.g. /etc/retailcrm-agi/env.
Variables already in the environment win over the file.

Exit status: 0 done; 2 refused input (command, flag, argument, configuration, unknown enterprise); 1 failure.`;

/** Takes `--env-file FILE` / `--env-file=FILE` out of argv, wherever it is. */
function takeEnvFile(argv: readonly string[]): { argv: string[]; envFile: string | null } {
  const rest: string[] = [];
  let envFile: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--env-file' || arg.startsWith('--env-file=')) {
      const value = arg === '--env-file' ? argv[++i] : arg.slice('--env-file='.length);
      if (value === undefined || value === '') throw new InputError('--env-file needs a file name', 'env-file');
      envFile = value;
    } else {
      rest.push(arg);
    }
  }
  return { argv: rest, envFile };
}

/** Runs one command; resolves to the exit status (-1: `serve`, which keeps running until a signal). */
export async function runCli(rawArgv: readonly string[], env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  try {
    const { argv, envFile } = takeEnvFile(rawArgv);
    const [command, sub, ...rest] = argv;
    if (command === 'help' || command === '--help' || command === '-h') {
      io.out(USAGE);
      return 0;
    }
    if (command === undefined) throw new InputError('no command given (retailcrm-agi --help lists them)');
    const config = loadConfig(env, process.cwd(), envFile === null ? {} : { envFile });
    switch (command) {
      case 'serve':
        return await serve(config);
      case 'migrate': {
        const db = await openCliDatabase(config, io);
        const pool = createPool({ connectionString: db.url, max: 1 });
        try {
          const applied = await migrate(pool);
          io.out(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database is up to date');
        } finally {
          await pool.end();
          await db.release();
        }
        return 0;
      }
      case 'enterprise':
        await withCliContext(config, io, (ctx) => enterpriseCommand(ctx, sub, rest));
        return 0;
      case 'extension':
        await withCliContext(config, io, (ctx) => extensionCommand(ctx, sub, rest));
        return 0;
      case 'outbox':
        await withCliContext(config, io, (ctx) => outboxCommand(ctx, sub, rest));
        return 0;
      case 'register':
        await withCliContext(config, io, (ctx) => registerCommand(ctx, argv.slice(1)));
        return 0;
      case 'unregister':
        await withCliContext(config, io, (ctx) => unregisterCommand(ctx, argv.slice(1)));
        return 0;
      case 'users':
        await withCliContext(config, io, (ctx) => usersCommand(ctx, sub, rest));
        return 0;
      case 'pbx':
        await withCliContext(config, io, (ctx) => pbxCommand(ctx, sub, rest));
        return 0;
      case 'report':
        await withCliContext(config, io, (ctx) => reportCommand(ctx, argv.slice(1)));
        return 0;
      case 'calls':
        await withCliContext(config, io, (ctx) => callsCommand(ctx, sub, rest));
        return 0;
      case 'backup':
        await backupCommand(config, io, argv.slice(1));
        return 0;
      case 'restore':
        await restoreCommand(config, io, argv.slice(1));
        return 0;
      case 'audit':
        await withCliContext(config, io, (ctx) => auditCommand(ctx, sub, rest));
        return 0;
      case 'secret':
        await withCliContext(config, io, (ctx) => secretCommand(ctx, sub, rest));
        return 0;
      default:
        throw new InputError(`unknown command ${JSON.stringify(command)} (retailcrm-agi --help lists them)`);
    }
  } catch (err) {
    io.err(`error: ${oneLine(err)}`);
    return exitStatusFor(err);
  }
}

/** 2: the input was refused (flags, arguments, configuration, an unknown enterprise); 1: anything else failed. */
export function exitStatusFor(err: unknown): number {
  if (err instanceof ConfigError || err instanceof InputError) return 2;
  return err instanceof AppError && err.code === 'ENTERPRISE_UNKNOWN' ? 2 : 1;
}

function oneLine(err: unknown): string {
  if (err instanceof ConfigError) return `invalid configuration: ${err.problems.join('; ')}`;
  return errorMessage(err).replace(/\s*\n\s*/g, ' ');
}

/** `serve`: signals are handled from the first moment, so a SIGTERM during start still ends in a clean stop. */
async function serve(config: Config): Promise<number> {
  const logger = createLogger({ level: config.logLevel });
  let service: Service | undefined;
  // The service's modules are loaded only for `serve` (the other commands start faster without them), after the
  // signal handlers below are in place.
  const starting = import('./main.js')
    .then(({ startService }) => startService(config, logger))
    .then((s) => (service = s));
  installSignalHandlers(async (reason) => (await starting).stop(reason), logger, { onForce: () => service?.forceStop() });
  await starting;
  return -1; // keep running until a signal
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === import.meta.url;
  } catch {
    return false;
  }
}

const isMain = isMainModule();
if (isMain) {
  const io: CliOutput = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };
  runCli(process.argv.slice(2), process.env, io).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
