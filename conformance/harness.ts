/**
 * The other side of a case: the TypeScript observing destination (when a source is under test) and
 * the scripted TypeScript source (when a destination is under test). Cases reach them only through
 * {@linkcode Harness}, so the framework's own tests can run without them.
 *
 * @module
 */

import type { DestinationTranscript } from "../harness/ts/dst_transcript.ts";
import type { TsSourceOptions } from "../harness/ts/source_options.ts";
import type {
  DestinationOptions,
  ImplementationInfo,
  RunningDestination,
  RunningSource,
} from "../harness/implementation.ts";

/** Options of the scripted source. */
export type ScriptedSourceOptions = TsSourceOptions;

/** Options of the observing destination. */
export interface ObserverOptions extends DestinationOptions {
  /** Which QEMU format the source speaks; default from `peer`. */
  readonly sourceVersion?: string;
  readonly policy?: "peek-magic" | "arrival-order";
  readonly readTimeoutMs?: number;
  /** Bound of the wait for the first connection. */
  readonly acceptTimeoutMs?: number;
  /** With `tls`: accept every connection and never answer its ClientHello. */
  readonly stallTlsHandshakes?: boolean;
}

/** A running observing destination. */
export interface ObservingDestination extends RunningDestination {
  transcript(): DestinationTranscript;
}

/** The harness a case drives. */
export interface Harness {
  /** Name and version the harness side reports as `peer` (the TypeScript implementation). */
  readonly info: ImplementationInfo;
  observer(options: ObserverOptions): Promise<ObservingDestination>;
  scriptedSource(options: ScriptedSourceOptions): Promise<RunningSource>;
}

export type {
  ConnectionOrder,
  InitOverride,
  PacketMutation,
  SourceScript,
} from "../harness/ts/source_options.ts";
export type { DestinationTranscript, ObservedConnection } from "../harness/ts/dst_transcript.ts";
