/**
 * The registry of expectation kinds: one file each. A new kind (for push
 * notifications, push rules, …) is a new file and one line here; the core
 * finds it by its name in the case file.
 */
import { AREA_EXPECT_KINDS } from '../../areas/index.js';
import type { ExpectKind, ExpectRegistry } from '../kinds.js';
import { arrivedKind } from './arrived.js';
import { bodyIncludesKind, bodyKind } from './body.js';
import { errcodeKind } from './errcode.js';
import { isJsonKind } from './is-json.js';
import { listKind } from './list.js';
import { matrixErrorKind } from './matrix-error.js';
import { schemaKind } from './schema.js';
import { statusKind } from './status.js';

const KINDS: readonly ExpectKind[] = [statusKind, errcodeKind, bodyKind, bodyIncludesKind, schemaKind, listKind, matrixErrorKind, arrivedKind, isJsonKind, ...AREA_EXPECT_KINDS];

export const expectKinds: ExpectRegistry & { all: readonly ExpectKind[] } = {
  all: KINDS,
  get: (name) => KINDS.find((k) => k.name === name),
};
