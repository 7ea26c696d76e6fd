/**
 * Every `migwire` command, in the order `--help` lists them.
 *
 * @module
 */

import type { Command } from "./command.ts";
import { benchCommand } from "./bench.ts";
import { captureCommand } from "./capture.ts";
import { conformanceCommand } from "./conformance.ts";
import { destinationCommand } from "./destination.ts";
import { inspectCommand } from "./inspect.ts";
import { interopCommand } from "./interop.ts";
import { sourceCommand } from "./source.ts";

/** The registered commands. */
export const commands: readonly Command[] = [
  benchCommand,
  captureCommand,
  conformanceCommand,
  destinationCommand,
  inspectCommand,
  interopCommand,
  sourceCommand,
];
