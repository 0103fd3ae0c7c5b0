/**
 * The content of an m.room.power_levels state event, read into PowerLevels. Only
 * the fields this server acts on are read (who may send which event, and the
 * levels of `notifications`); the others are left alone. A level must be an
 * integer, as in every room version from 10 on (older ones also took strings of
 * digits, which this server refuses: its rooms have no version to say).
 */
import { isJsonObject, type Json, type JsonObject } from '../json.js';
import { tooLarge } from '../limits.js';
import { matrixError, type HandlerResult } from '../result.js';
import type { PowerLevels } from './rooms.js';

/**
 * Past this size, the content is refused with M_TOO_LARGE: a room keeps its
 * levels as long as it lives, and a real one names a handful of users. 1000
 * rooms of levels at the cap hold a few tens of megabytes.
 */
export const MAX_POWER_LEVELS_BYTES = 4096;

export type ParsedLevels = { ok: true; levels: PowerLevels } | { ok: false; error: HandlerResult };

export function parsePowerLevels(content: JsonObject): ParsedLevels {
  const bytes = Buffer.byteLength(JSON.stringify(content), 'utf8');
  if (bytes > MAX_POWER_LEVELS_BYTES) return { ok: false, error: tooLarge(`m.room.power_levels: ${bytes} bytes as JSON; this server keeps power levels of at most ${MAX_POWER_LEVELS_BYTES} bytes`) };
  try {
    return {
      ok: true,
      levels: {
        users: levelMap(content, 'users'),
        usersDefault: level(content, 'users_default', 0),
        events: levelMap(content, 'events'),
        eventsDefault: level(content, 'events_default', 0),
        // With a power levels event, an unnamed state_default is 50 (0 only without one).
        stateDefault: level(content, 'state_default', 50),
        notifications: levelMap(content, 'notifications'),
      },
    };
  } catch (error) {
    if (error instanceof LevelError) return { ok: false, error: matrixError(400, 'M_BAD_JSON', error.message) };
    throw error;
  }
}

class LevelError extends Error {}

function level(content: JsonObject, key: string, fallback: number): number {
  if (!Object.hasOwn(content, key)) return fallback;
  return integer(content[key], key);
}

function levelMap(content: JsonObject, key: string): Map<string, number> {
  if (!Object.hasOwn(content, key)) return new Map();
  const value = content[key];
  if (!isJsonObject(value)) throw new LevelError(`m.room.power_levels: '${key}' must be an object`);
  return new Map(Object.entries(value).map(([name, v]) => [name, integer(v, `${key}.${name}`)]));
}

function integer(value: Json | undefined, where: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw new LevelError(`m.room.power_levels: '${where}' must be an integer`);
}
