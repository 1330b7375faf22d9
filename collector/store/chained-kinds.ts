// The kinds of chained rows this store writes (see chained-rows.ts for the
// pattern). Verify checks every kind named here; a new kind is added here.
import type { ChainedKind } from './chained-rows.js';
import { FILE_LINK_KIND, FILE_LINK } from './file-rows.js';
import { SENSITIVE_TAG, SENSITIVE_TAG_KIND } from './sensitive-tags.js';
import { INTENT_LINK, INTENT_LINK_KIND, MODEL_TURN, MODEL_TURN_KIND, TOOL_CALL, TOOL_CALL_KIND } from '../intent/intent-rows.js';

export const CHAINED_KINDS: Record<string, ChainedKind> = {
  [FILE_LINK]: FILE_LINK_KIND,
  [SENSITIVE_TAG]: SENSITIVE_TAG_KIND,
  [MODEL_TURN]: MODEL_TURN_KIND,
  [TOOL_CALL]: TOOL_CALL_KIND,
  [INTENT_LINK]: INTENT_LINK_KIND,
};
