import { apply } from './apply.ts';
import { arm } from './arm.ts';
import { complete, completion } from './completion.ts';
import { disarm } from './disarm.ts';
import { events } from './events.ts';
import { killSwitch } from './kill-switch.ts';
import { logs } from './logs.ts';
import { plan } from './plan.ts';
import { retry } from './retry.ts';
import { runOnce } from './run-once.ts';
import { serve } from './serve.ts';
import { status } from './status.ts';
import { tick } from './tick.ts';
import type { Verb } from '../verb.ts';

/** The verb table: help, completion and dispatch all read it, in this order. */
export const VERBS: readonly Verb[] = [plan, apply, status, runOnce, events, logs, arm, disarm, killSwitch, retry, tick, serve, completion, complete];
