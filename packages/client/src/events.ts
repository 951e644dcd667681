// Event objects the socket dispatches. Own classes rather than MessageEvent/CloseEvent: Node 20 has no
// global CloseEvent, and these carry the same fields in browsers and Node alike.

export class BatonMessageEvent extends Event {
  constructor(readonly data: unknown) {
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

/** 'resumed' (the new server restored the session) or 'resume-failed' (it started a fresh one; `code` says why). */
export class ResumeEvent extends Event {
  constructor(
    type: 'resumed' | 'resume-failed',
    readonly code?: string,
  ) {
    super(type);
  }
}
