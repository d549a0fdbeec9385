/** The local driver: everything the loops need on a single machine, under one state directory. */
export { createLocalStateStore } from './state-store.ts';
export { createLocalArmingStore } from './arming-store.ts';
export { createLocalDispatcher, readRunLog, listRuns, type LocalDispatcherOptions } from './dispatcher.ts';
export { createLocalEventSink } from './events.ts';
export { createLocalLogReader } from './logs.ts';
