// Each destination's forwarding state as plain objects with numbers as
// numbers, read from the store by any process: for `sensor forward --status`
// and for `sensor status` (which the lead connects after the merges).
import type Database from 'better-sqlite3';
import { readCursors } from './cursor-table.js';
import { EventReader } from './event-reader.js';
import { openForwardDatabase } from './forward-db.js';

export interface DestinationStatus {
  destination: string;
  /** stored events not yet shipped, and the age of the oldest of them */
  lagEvents: number;
  lagSeconds: number;
  shippedEvents: number;
  shippedAlerts: number;
  /** deleted by retention before they were shipped */
  missedEvents: number;
  lastError: string | null;
  lastErrorAt: string | null;
  updatedAt: string;
}

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

export function destinationStatuses(db: Database.Database): DestinationStatus[] {
  const reader = new EventReader(db);
  return readCursors(db).map((c) => {
    const lag = reader.lag(c);
    return {
      destination: c.dest, lagEvents: lag.events, lagSeconds: lag.seconds, shippedEvents: c.shippedEvents,
      shippedAlerts: c.shippedAlerts, missedEvents: c.missedEvents, lastError: c.lastError,
      lastErrorAt: c.lastErrorNs === null ? null : iso(c.lastErrorNs), updatedAt: iso(c.updatedNs),
    };
  });
}

export function forwardStatus(stateDir: string): DestinationStatus[] {
  const db = openForwardDatabase(stateDir, true);
  try {
    return destinationStatuses(db);
  } finally {
    db.close();
  }
}
