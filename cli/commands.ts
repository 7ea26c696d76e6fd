/**
 * Every `migwire` command, in the order `--help` lists them.
 *
 * @module
 */

import type { Command } from "./command.ts";

/** The registered commands. */
export const commands: readonly Command[] = [];
