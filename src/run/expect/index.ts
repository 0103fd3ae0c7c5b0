/**
 * The registry of expectation kinds: the core's own, one file each, then
 * those the areas bring (src/areas/index.ts); the core finds each by its name
 * in the case file.
 */
import { AREA_EXPECT_KINDS } from '../../areas/index.js';
import type { ExpectKind, ExpectRegistry } from '../kinds.js';
import { bodyIncludesKind, bodyKind } from './body.js';
import { errcodeKind } from './errcode.js';
import { isJsonKind } from './is-json.js';
import { listKind } from './list.js';
import { matrixErrorKind } from './matrix-error.js';
import { schemaKind } from './schema.js';
import { statusKind } from './status.js';

const KINDS: readonly ExpectKind[] = [statusKind, errcodeKind, bodyKind, bodyIncludesKind, schemaKind, listKind, matrixErrorKind, isJsonKind, ...AREA_EXPECT_KINDS];

export const expectKinds: ExpectRegistry & { all: readonly ExpectKind[] } = {
  all: KINDS,
  get: (name) => KINDS.find((k) => k.name === name),
};
