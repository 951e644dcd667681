// When a relayed pair reads message ids: only in a move's overlap. Duplicates come from a move alone — the new
// gateway resumes from the state sealed at the hint and sends again what the old one sent after it — so ids are
// read from the hint (the BatonSocket asks for the move's URL) until the old connection is let go (the switch
// plus its linger). Outside that window the relay never decodes a message.

import type { BatonSocketOptions } from '@baton/client';
import { decodeMessage } from './frame-codec.js';

/** BatonSocket's default linger (the old connection delivers this long after the switch), and a margin. */
const LINGER_MS = 1_000 + 500;
/** A move that never switches (a rebalance that found no pod) stops the reading after this long. */
const MOVE_LIMIT_MS = 60_000;

export interface MoveOverlap {
  /** For the BatonSocket: its `url` (marks a move's start) and `dedupe` (ids read in the window only). */
  readonly options: Pick<BatonSocketOptions, 'url' | 'dedupe'>;
  /** The move switched to the new gateway (the BatonSocket's 'migrated'). */
  switched(): void;
}

export function moveOverlap(
  target: string,
  messageId: (data: string | Buffer) => string | number | undefined,
): MoveOverlap {
  let readUntil = 0;
  return {
    options: {
      url: ({ reason }) => {
        if (reason === 'move') readUntil = Date.now() + MOVE_LIMIT_MS;
        return target;
      },
      dedupe: (bytes: Buffer) =>
        readUntil !== 0 && Date.now() <= readUntil ? messageId(decodeMessage(bytes)) : undefined,
    },
    switched: () => {
      readUntil = Date.now() + LINGER_MS;
    },
  };
}
