// `canopy serve`: the validating and mutating webhooks over HTTPS. The command parses its settings,
// starts Canopy (src/app, imported only when serving), prints what it started and turns SIGTERM and
// SIGINT into a drain.
import { Option, type Command } from 'commander';
import { loadCanopyConfig, podNamespace, SETTINGS, settingsHelp, type CanopyConfig, type FlagValue } from '../../operations/config/index.js';
import type { RunningCanopy } from '../../app/index.js';
import { say } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';

/** Writes out what the buffered decision log holds before the process exits: every decision answered is logged. */
function flushDecisionLog(canopy: RunningCanopy): void {
  try {
    canopy.flushLog();
  } catch (error) {
    say(`the decision log could not be written out before exiting: ${messageOf(error)}`);
  }
}

/** SIGTERM and SIGINT drain the server (see Drain); a second signal exits at once. */
function stopOnSignals(canopy: RunningCanopy, config: CanopyConfig): void {
  const { delaySeconds, drainSeconds } = config.shutdown;
  const exit: (code: number) => never = (code) => {
    flushDecisionLog(canopy);
    process.exit(code);
  };
  const stop = (signal: string) => {
    if (canopy.draining) {
      say(`${signal} again: exiting without waiting for requests in flight`);
      exit(1);
    }
    say(`${signal}: not ready any more; serving ${delaySeconds} s more, then finishing requests in flight (at most ${drainSeconds} s)`);
    canopy.drain(delaySeconds * 1000, drainSeconds * 1000).then(
      (outcome) => {
        if (outcome.result === 'drained') {
          say(`drained in ${outcome.ms} ms; every request in flight was answered`);
          exit(0);
        }
        say(`drain timeout: ${outcome.connections} connection(s) still busy after ${drainSeconds} s were cut`);
        exit(1);
      },
      (error: unknown) => {
        say(`shutdown failed: ${messageOf(error)}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function serve(config: CanopyConfig): Promise<void> {
  const { startCanopy } = await import('../../app/index.js');
  const canopy = await startCanopy(config);
  // One write, so that whoever reads the output (a person, a test, a log collector) gets it whole.
  say(canopy.summary.join('\ncanopy: '));
  stopOnSignals(canopy, config);
}

/** The flag for one setting: a boolean may be given bare (`--bootstrap-tls`); a list is repeatable. */
function optionFor(setting: (typeof SETTINGS)[number]): Option {
  const placeholder = setting.kind === 'boolean' ? ' [true|false]' : setting.kind === 'yaml' ? ' <yaml>' : ' <value>';
  const option = new Option(`${setting.flag}${placeholder}`, setting.description);
  if (setting.kind === 'list') option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  return option;
}

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('run the validating and mutating admission webhooks over HTTPS')
    .option('--config <file>', 'a YAML file with any of the settings below (also CANOPY_CONFIG)');
  const options = SETTINGS.map((setting) => ({ setting, option: optionFor(setting) }));
  for (const { option } of options) command.addOption(option);
  command.addHelpText('after', settingsHelp());
  command.action(async (given: Record<string, FlagValue | undefined>) => {
    const flags: Record<string, FlagValue> = {};
    for (const { setting, option } of options) {
      const value = given[option.attributeName()];
      if (value !== undefined) flags[setting.key] = value;
    }
    const file = (given['config'] as string | undefined) ?? process.env['CANOPY_CONFIG'];
    try {
      const config = await loadCanopyConfig({ ...(file ? { file } : {}), env: process.env, flags, podNamespace: podNamespace() });
      await serve(config);
    } catch (error) {
      // Whatever stops the start (config, policies, certificates, the API server) is said in one line;
      // informers or watchers already started must not keep a half-started process alive.
      say(`refusing to start: ${messageOf(error)}`);
      if (process.env['CANOPY_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
      process.exit(1);
    }
  });
}
