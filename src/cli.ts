#!/usr/bin/env node
/**
 * `retailcrm-agi`: the command line. `serve` runs the service (what `npm start` runs); the other commands
 * manage enterprises and extensions in the same database. Bad input exits 2 with a message; other failures 1.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { loadConfig } from './config.js';
import { ConfigError, InputError, AppError, errorMessage } from './errors.js';
import { createLogger } from './logger.js';
import { withCliContext, type CliOutput } from './cli/cli-context.js';
import { enterpriseCommand, extensionCommand } from './cli/enterprise-commands.js';
import { OUTBOX_USAGE, outboxCommand } from './cli/outbox-commands.js';
import { pbxCommand, registerCommand, unregisterCommand, usersCommand } from './cli/clicktocall-commands.js';
import { REPORT_USAGE, reportCommand } from './cli/report-command.js';
import { AUDIT_USAGE, auditCommand } from './cli/audit-command.js';
import { BACKUP_USAGE, backupCommand, restoreCommand } from './cli/backup-commands.js';
import { startService } from './main.js';
import { installSignalHandlers } from './shutdown.js';
import { openDatabase } from './db/connect.js';
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

Configuration comes from environment variables (see README): DATABASE_URL, DATA_DIR, AGI_PORT, HTTP_PORT,
PUBLIC_URL, LOOKUP_BUDGET_MS, SECRET_KEY, LOG_LEVEL, ...`;

export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.out(USAGE);
      return command === undefined ? 2 : 0;
    }
    const config = loadConfig(env);
    switch (command) {
      case 'serve': {
        const logger = createLogger({ level: config.logLevel });
        const service = await startService(config, logger);
        installSignalHandlers((reason) => service.stop(reason), logger);
        return -1; // keep running
      }
      case 'migrate': {
        const db = await openDatabase(config, { owner: false });
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
      case 'backup':
        await backupCommand(config, io, argv.slice(1));
        return 0;
      case 'restore':
        await restoreCommand(config, io, argv.slice(1));
        return 0;
      case 'audit':
        await withCliContext(config, io, (ctx) => auditCommand(ctx, sub, rest));
        return 0;
      default:
        throw new InputError(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof InputError || (err instanceof AppError && err.code === 'ENTERPRISE_UNKNOWN')) {
      io.err(`error: ${err.message}`);
      return 2;
    }
    io.err(`error: ${errorMessage(err)}`);
    return 1;
  }
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
