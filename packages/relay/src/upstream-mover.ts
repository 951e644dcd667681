// A relayed client's upstream, following the gateway's reconnect hints make-before-break (docs/protocol.md §3),
// frame by frame: on a hint it opens a second link offering the hint's token, holds the client's messages,
// keeps what the new link sends until its welcome, then switches, lets the old link deliver for a linger, and
// sends the held messages in order. It is @baton/client's BatonSocket cut to what a relay needs — no reconnect
// after a loss (the client is told and comes back through the relay), no events, no timers while idle — because
// the relay holds one per client and memory per relayed connection is a goal (bench:relay). Message ids are
// read only around a move: duplicates come from a move alone — the new gateway resumes from the state sealed at
// the hint and sends again, at its own pace, what the old one sent after it — so ids are read from the hint
// until the old link is let go and the new one has sent again every id the old one delivered first. (That the
// new link once sent an id the old had not yet is no sign it caught up: the two gateways tick at their own
// pace, and the old one may be first again on the next id.)

import {
  BATON_PROTOCOL,
  ControlGate,
  MAX_TOKEN_CHARS,
  parseControl,
  REBALANCE_PROTOCOL,
  REBALANCE_TRIES,
  RESUME_PROTOCOL_PREFIX,
} from '@baton/client/protocol';
import { decodeMessage } from './frame-codec.js';
import { type LinkOwner, type UpstreamEndpoint, UpstreamLink } from './upstream-link.js';

/** What a first connection of a client that offered no subprotocol offers (one array for all of them). */
const BATON_ONLY: readonly string[] = Object.freeze([BATON_PROTOCOL]);

/** What the mover tells its pair. */
export interface UpstreamEvents {
  upstreamOpened(): void;
  upstreamMessages(bytes: Buffer): void;
  /** Gone for good (refused, crashed, a move that failed): the gateway's code, or 1006. */
  upstreamClosed(code: number, reason: string): void;
  upstreamMoved(): void;
}

/** What every mover of a relay shares. */
export interface MoverSettings {
  /** Client messages that may wait for a move (or a slow gateway); past it send() throws. */
  readonly maxHeldBytes: number;
  readonly messageId: ((data: string | Buffer) => string | number | undefined) | undefined;
}

/** The old link delivers this long after a switch before it is closed with 1000 (BatonSocket's lingerMs). */
const LINGER_MS = 1_000;
/** When the old link closes before the switch, the move may take this much longer (BatonSocket's moveGraceMs). */
const MOVE_GRACE_MS = 5_000;
/** At most this many moves per window (BatonSocket's maxMoves): a hostile gateway cannot make the relay loop. */
const MAX_MOVES = 3;
const MOVE_WINDOW_MS = 10_000;
/** Ids are read at most this long after a hint or a switch (messages without ids never show a catch-up). */
const ID_READING_LIMIT_MS = 60_000;
/** How many recent ids are remembered (BatonSocket's dedupeWindow). */
const ID_WINDOW = 4096;

export class HeldBytesExceeded extends Error {}

/** A move under way (one per pair at most), made at the hint and dropped when it ends. */
interface Move {
  next: UpstreamLink | undefined;
  /** What the new link sent before its welcome. */
  nextMessages: Buffer[] | undefined;
  /** The client's messages held until the switch. */
  held: Buffer[] | undefined;
  heldBytes: number;
  token: string | undefined;
  deadline: number;
  /** For a rebalance, which try this is (1…REBALANCE_TRIES); 0 for a drain's move. */
  rebalanceTry: number;
  /** The next try, or the grace after the old link closed. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The old link's close, while a move it outlived may still succeed. */
  oldClose: { code: number; reason: string } | undefined;
}

/** What a pair keeps once it has moved: the move cap, recent ids, the old link's linger. */
interface MoveHistory {
  starts: number[];
  ids: Set<string | number> | undefined;
  /** Ids the old link delivered first, which the new one is expected to send again: reading goes on until then. */
  awaited: Set<string | number> | undefined;
  readIdsUntil: number;
  lingering: UpstreamLink | undefined;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
}

// Lifecycle bits, in one field: an idle pair's mover is a handful of references.
const OPENED = 1;
const CLOSED = 2;
const PAUSED = 4;
/** Reading waits for the pair (construction to relayTo()): what the gateway sends first waits in TCP. */
const RELAYING = 8;

export class UpstreamMover implements LinkOwner {
  events: UpstreamEvents;
  readonly #endpoint: UpstreamEndpoint;
  /** This client's upgrade request up to its key and subprotocols (upgradeRequestHead). */
  readonly #requestHead: string;
  readonly #protocols: readonly string[];
  readonly #settings: MoverSettings;
  #active: UpstreamLink | undefined;
  #move: Move | undefined;
  #history: MoveHistory | undefined;
  /**
   * What the gateway sent before the pair was made: at most the rest of the read that brought the handshake's
   * answer (the link is paused until then). ws completes the client's handshake within the upstream's open
   * today, so this stays empty; kept so that an asynchronous step there could never drop a message.
   */
  #early: Buffer[] | undefined;
  #flags = 0;

  constructor(
    endpoint: UpstreamEndpoint,
    requestHead: string,
    protocols: readonly string[],
    settings: MoverSettings,
    events: UpstreamEvents,
  ) {
    this.#endpoint = endpoint;
    this.#requestHead = requestHead;
    this.#protocols = protocols;
    this.#settings = settings;
    this.events = events;
    this.#active = this.#link(undefined, false);
  }

  /** The subprotocol the gateway selected for the app ('' when it selected only Baton's). */
  get protocol(): string {
    const selected = this.#active?.protocol ?? '';
    return selected === BATON_PROTOCOL ? '' : selected;
  }

  /** Bytes written to the gateway but not yet on the network, plus the client's messages held for a move. */
  get bufferedAmount(): number {
    return (this.#active?.bufferedAmount ?? 0) + (this.#move?.heldBytes ?? 0);
  }

  /** The pair is ready: read the gateway from now on, its messages going to `events`. */
  relayTo(events: UpstreamEvents): void {
    this.events = events;
    this.#flags |= RELAYING;
    const early = this.#early;
    this.#early = undefined;
    for (const bytes of early ?? []) this.#deliver(bytes, true);
    if (!(this.#flags & PAUSED)) this.#active?.resume();
  }

  /**
   * Whole client messages, masked as the client sent them. Throws HeldBytesExceeded past maxHeldBytes. False when
   * bytes may be waiting beyond the socket's high-water mark (held for a move, or write()'s answer): only then is
   * bufferedAmount worth reading.
   */
  send(bytes: Buffer): boolean {
    if (this.#flags & CLOSED) return true;
    const move = this.#move;
    const active = this.#active;
    if (!move) return active?.readyState === UpstreamLink.OPEN ? active.send(bytes) : true;
    if (move.heldBytes + bytes.length > this.#settings.maxHeldBytes) throw new HeldBytesExceeded();
    move.held ??= [];
    move.held.push(bytes);
    move.heldBytes += bytes.length;
    return false;
  }

  pause(): void {
    this.#flags |= PAUSED;
    this.#active?.pause();
  }

  resume(): void {
    this.#flags &= ~PAUSED;
    if (this.#flags & RELAYING) this.#active?.resume();
  }

  /** Close the upstream (the client closed, or the relay): the code goes to the gateway. Idempotent. */
  close(code?: number, reason = ''): void {
    if (this.#flags & CLOSED) return;
    this.#flags |= CLOSED;
    this.#endMove();
    const history = this.#history;
    if (history) {
      clearTimeout(history.lingerTimer);
      history.lingering?.close(1000);
      history.lingering = undefined;
    }
    this.#active?.close(code, reason);
  }

  #link(token: string | undefined, rebalance: boolean): UpstreamLink {
    // A token the gateway would refuse (too long) is not offered at all.
    const resume = token && token.length <= MAX_TOKEN_CHARS ? RESUME_PROTOCOL_PREFIX + token : undefined;
    const offered =
      this.#protocols.length === 0 && !rebalance && !resume
        ? BATON_ONLY
        : [...this.#protocols, BATON_PROTOCOL, ...(rebalance ? [REBALANCE_PROTOCOL] : []), ...(resume ? [resume] : [])];
    return new UpstreamLink(this.#endpoint, this.#requestHead, offered, this);
  }

  // LinkOwner: what the links report.
  linkOpened(link: UpstreamLink): void {
    const paused = (this.#flags & PAUSED) !== 0;
    if (link === this.#active && !(this.#flags & OPENED)) {
      this.#flags |= OPENED;
      if (paused || !(this.#flags & RELAYING)) link.pause();
      this.events.upstreamOpened();
    } else if (link === this.#move?.next && paused) {
      link.pause();
    }
  }

  linkMessage(link: UpstreamLink, data: Buffer | string): void {
    const move = this.#move;
    if (typeof data !== 'string') {
      if (move && link === move.next) {
        move.nextMessages ??= [];
        move.nextMessages.push(data);
      } else if (link === this.#active && !(this.#flags & RELAYING)) {
        this.#early ??= [];
        this.#early.push(data);
      } else if (link === this.#active || link === this.#history?.lingering) {
        this.#deliver(data, link === this.#active);
      }
      return;
    }
    const control = parseControl(data);
    if (!control) return;
    link.gate ??= new ControlGate();
    if (!link.gate.admit(control)) return;
    if (move && link === move.next) {
      if (control.t === 'welcome') this.#switchTo(move, link);
      return;
    }
    // A checkpoint's token would serve a reconnect after a loss, which a relay does not make: nothing to keep.
    if (control.t !== 'reconnect' || link !== this.#active || move || this.#flags & CLOSED) return;
    if (this.#mayMove()) this.#startMove(control.token, control.deadline, control.reason === 'rebalance' ? 1 : 0);
  }

  linkClosed(link: UpstreamLink, code: number, reason: string): void {
    const history = this.#history;
    if (history && link === history.lingering) {
      history.lingering = undefined;
      return;
    }
    const move = this.#move;
    if (move && link === move.next) return this.#moveFailed(move);
    if (link !== this.#active) return;
    this.#active = undefined;
    if (move?.next && !(this.#flags & CLOSED)) {
      // The old link went before the move finished (its deadline passed, or its gateway died): the move is
      // still the way on, so the client sees nothing unless it fails or outlasts the grace.
      move.oldClose = { code, reason };
      clearTimeout(move.timer);
      move.timer = setTimeout(() => this.#moveLost(move), MOVE_GRACE_MS);
      return;
    }
    this.#endMove();
    this.#lost(code, reason);
  }

  /** Gone for good: the pair learns it once. */
  #lost(code: number, reason: string): void {
    if (this.#flags & CLOSED) return;
    this.#flags |= CLOSED;
    this.events.upstreamClosed(code, reason);
  }

  /** The pair's move history, made at its first hint. */
  #moveHistory(): MoveHistory {
    this.#history ??= {
      starts: [],
      ids: undefined,
      awaited: undefined,
      readIdsUntil: 0,
      lingering: undefined,
      lingerTimer: undefined,
    };
    return this.#history;
  }

  #mayMove(): boolean {
    const now = Date.now();
    const history = this.#moveHistory();
    history.starts = history.starts.filter((at) => now - at < MOVE_WINDOW_MS);
    if (history.starts.length >= MAX_MOVES) return false;
    history.starts.push(now);
    return true;
  }

  #startMove(token: string | undefined, deadline: number, rebalanceTry: number): void {
    const move: Move = {
      next: undefined,
      nextMessages: undefined,
      held: undefined,
      heldBytes: 0,
      token,
      deadline,
      rebalanceTry,
      timer: undefined,
      oldClose: undefined,
    };
    this.#move = move;
    this.#tryMove(move);
  }

  #tryMove(move: Move): void {
    if (this.#settings.messageId && this.#history) this.#history.readIdsUntil = Date.now() + ID_READING_LIMIT_MS;
    move.nextMessages = undefined;
    move.next = this.#link(move.token, move.rebalanceTry > 0);
  }

  /** The new link failed before its welcome: try again while the old gateway still holds the client. */
  #moveFailed(move: Move): void {
    move.next = undefined;
    move.nextMessages = undefined;
    const rebalance = move.rebalanceTry;
    const again = rebalance > 0 ? rebalance < REBALANCE_TRIES : this.#mayMove();
    if (Date.now() + 250 < move.deadline && this.#active?.readyState === UpstreamLink.OPEN && again) {
      // A rebalance tries the next pod at once (the load balancer picks again); a drain's move backs off a little.
      const delay = Math.random() * (rebalance > 0 ? 50 : 250);
      move.timer = setTimeout(() => {
        if (this.#move !== move || this.#flags & CLOSED) return;
        if (rebalance > 0) move.rebalanceTry++;
        this.#tryMove(move);
      }, delay);
    } else if (move.oldClose) {
      this.#moveLost(move);
    } else {
      // Staying where it is: the held messages go to the old gateway, which still serves the client, and no
      // other gateway will send again what it delivered meanwhile (its ids need no more reading).
      this.#move = undefined;
      if (this.#history) this.#history.awaited = undefined;
      this.#flush(move);
    }
  }

  /** A move that outlived the old link failed or took too long: the client learns the old link's close. */
  #moveLost(move: Move): void {
    const oldClose = move.oldClose;
    if (this.#move !== move || !oldClose) return;
    this.#endMove();
    this.#lost(oldClose.code, oldClose.reason);
  }

  #switchTo(move: Move, next: UpstreamLink): void {
    const old = this.#active;
    this.#active = next;
    this.#move = undefined;
    clearTimeout(move.timer);
    if (this.#flags & PAUSED) next.pause();
    const history = this.#moveHistory();
    if (old) {
      // The old link may still deliver what it had in flight; ids drop the overlap. Then it goes with 1000.
      clearTimeout(history.lingerTimer);
      history.lingering?.close(1000);
      history.lingering = old;
      history.lingerTimer = setTimeout(() => {
        if (history.lingering === old) history.lingering = undefined;
        old.close(1000);
      }, LINGER_MS);
    }
    if (this.#settings.messageId) history.readIdsUntil = Date.now() + ID_READING_LIMIT_MS;
    this.events.upstreamMoved();
    for (const bytes of move.nextMessages ?? []) this.#deliver(bytes, true);
    this.#flush(move);
  }

  /** The held messages of a move that ended go out, in order, on the active link. */
  #flush(move: Move): void {
    const active = this.#active;
    const held = move.held;
    move.held = undefined;
    move.heldBytes = 0;
    if (!held || active?.readyState !== UpstreamLink.OPEN) return;
    for (const bytes of held) active.send(bytes);
  }

  /** `fromActive`: the message came on the active link (after a switch, the new one). */
  #deliver(bytes: Buffer, fromActive: boolean): void {
    const messageId = this.#settings.messageId;
    const history = this.#history;
    if (messageId && history && this.#readingIds(history)) {
      const id = messageId(decodeMessage(bytes));
      if (id !== undefined) {
        // The link that will stay: the active one once no move is under way (until then the active is the old).
        const fromNew = fromActive && !this.#move;
        history.ids ??= new Set();
        const ids = history.ids;
        if (ids.has(id)) {
          if (fromNew) history.awaited?.delete(id);
          return;
        }
        ids.add(id);
        if (!fromNew) {
          history.awaited ??= new Set();
          history.awaited.add(id);
        }
        if (ids.size > ID_WINDOW) {
          const oldest = ids.values().next().value as string | number;
          ids.delete(oldest);
          history.awaited?.delete(oldest);
        }
      }
    }
    this.events.upstreamMessages(bytes);
  }

  /**
   * Whether a message's id must be read: a move under way, an old link lingering, or ids the old link delivered
   * that the new one has not sent again yet (bounded in time: a gateway need not send every one again).
   */
  #readingIds(history: MoveHistory): boolean {
    const reading = this.#move || history.lingering || (history.awaited && history.awaited.size > 0);
    if (reading && Date.now() <= history.readIdsUntil) return true;
    // The move's overlap is over: its ids go (a pair that moved once costs no more than one that never did).
    history.ids = undefined;
    history.awaited = undefined;
    return false;
  }

  /** Drop the move under way, closing its link. */
  #endMove(): void {
    const move = this.#move;
    if (!move) return;
    this.#move = undefined;
    clearTimeout(move.timer);
    move.next?.close(1000);
  }
}
