// Event objects the socket dispatches. Own classes rather than MessageEvent/CloseEvent: Node 20 has no
// global CloseEvent, and these carry the same fields in browsers and Node alike.

/**
 * A message from the server. `data` is typed as lib.dom's MessageEvent types it (`any`): a string for a text
 * frame; for a binary frame what the underlying socket gives for its `binaryType` (Blob or ArrayBuffer in
 * browsers; Buffer, ArrayBuffer or Buffer[] with `ws`).
 */
export class BatonMessageEvent extends Event {
  // biome-ignore lint/suspicious/noExplicitAny: the DOM's MessageEvent.data is `any`; users JSON.parse it.
  constructor(readonly data: any) {
    super('message');
  }
}

export class BatonCloseEvent extends Event {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly wasClean: boolean,
  ) {
    super('close');
  }
}

/** 'migrated': the socket moved to another server without the app seeing a close. */
export class MigratedEvent extends Event {
  constructor(
    readonly resumed: boolean,
    readonly resumeError: string | undefined,
  ) {
    super('migrated');
  }
}

/**
 * 'resumed' (the new server restored the session) or 'resume-failed' (it started a fresh one; `resumeError`
 * says why: a BATON_ERR_TOKEN_* code, or BATON_ERR_RESUME_UNSUPPORTED).
 */
export class ResumeEvent extends Event {
  constructor(
    type: 'resumed' | 'resume-failed',
    readonly resumeError?: string,
  ) {
    super(type);
  }
}

/** The events a BatonSocket dispatches, for typed addEventListener / removeEventListener. */
export interface BatonSocketEventMap {
  open: Event;
  message: BatonMessageEvent;
  close: BatonCloseEvent;
  error: Event;
  migrated: MigratedEvent;
  resumed: ResumeEvent;
  'resume-failed': ResumeEvent;
}
