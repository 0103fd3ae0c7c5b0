/**
 * The core's own expectation kinds, one file each. Those the areas bring are
 * composed in above the runner (src/kinds.ts); a run finds each kind by its
 * name in the case file, in the set it is given (RunOptions.kinds).
 */
import type { ExpectKind } from '../kinds.js';
import { bodyIncludesKind, bodyKind } from './body.js';
import { errcodeKind } from './errcode.js';
import { isJsonKind } from './is-json.js';
import { listKind } from './list.js';
import { matrixErrorKind } from './matrix-error.js';
import { schemaKind } from './schema.js';
import { statusKind } from './status.js';

export const CORE_EXPECT_KINDS: readonly ExpectKind[] = [statusKind, errcodeKind, bodyKind, bodyIncludesKind, schemaKind, listKind, matrixErrorKind, isJsonKind];
