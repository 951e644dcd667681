// Where WebSocket messages begin and end in one direction of a relayed pair, without decoding them. The relay
// forwards whole messages as the bytes that came in (a client's frames stay masked: a server accepts a frame
// whichever client masked it, RFC 6455 §5.3), so it must know their boundaries for three reasons: a move
// switches upstream between two messages, what waits for a move is whole messages, and its own frames (a pong,
// a close) go between two messages. It reads frame headers only; payloads are read for ping, pong and close
// frames (which the relay answers or consumes), for text messages that start with Baton's control prefix
// (the gateway's control messages, consumed), and never otherwise.

import {
  applyMask,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_BIG,
  messagePayload,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PONG,
  OPCODE_TEXT,
} from './frame-codec.js';

/** `\0baton:`, the first bytes of every Baton control message (docs/protocol.md §2). */
const CONTROL_PREFIX = Buffer.from('\u0000baton:', 'utf8');

/** A partial frame shorter than this is copied out of its read, so an idle pair does not pin a 64 KiB read. */
const COPY_BELOW = 1024;

export interface FrameSink {
  /** One or more whole data messages, their frames byte for byte as they came (masked ones stay masked). */
  messages(bytes: Buffer): void;
  /** A whole text message that starts with Baton's control prefix, decoded (only with `reserveControl`). */
  controlMessage(text: string): void;
  /** A ping, pong or close frame; its payload unmasked. */
  controlFrame(opcode: number, payload: Buffer): void;
  /** The peer broke the protocol: close the connection with this code. Nothing more is read. */
  violation(code: number, message: string): void;
}

export interface SplitterOptions {
  /** Frames from a client are masked, from a server not (§5.1: anything else fails the connection). */
  readonly masked: boolean;
  /** Largest message, in payload bytes (§10.4), as ws's maxPayload: past it, 1009. */
  readonly maxPayload: number;
  /** One `messages` call per message (a message id is read from each); else whole runs of them at once. */
  readonly eachMessage: boolean;
  /** Text messages starting with Baton's control prefix go to `controlMessage` instead (the gateway's side). */
  readonly reserveControl: boolean;
}

export class FrameSplitter {
  readonly #options: SplitterOptions;
  readonly #sink: FrameSink;
  /** Bytes kept from earlier reads: the open message's frames and the partial frame at the end. */
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;
  /** How many kept bytes the next walk needs before it can get further (the partial frame's end). */
  #need = 0;
  /** Where, in the kept bytes, the first frame not yet walked begins. */
  #resumeAt = 0;
  /** The open fragmented message's opcode (text or binary), 0 when none is open. */
  #messageOpcode = 0;
  #messagePayloadBytes = 0;
  /** The open message's frames before a ping, pong or close that came between its fragments. */
  #pieces: Buffer[] | undefined;
  #stopped = false;

  constructor(options: SplitterOptions, sink: FrameSink) {
    this.#options = options;
    this.#sink = sink;
  }

  /** Stop reading for good (the connection is closing); what is kept is let go. */
  stop(): void {
    this.#stopped = true;
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#pieces = undefined;
  }

  push(chunk: Buffer): void {
    if (this.#stopped) return;
    if (this.#pendingBytes === 0) return this.#walk(chunk, this.#resumeAt);
    const pending = this.#pending as Buffer[];
    pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < this.#need) return;
    const buffer = Buffer.concat(pending, this.#pendingBytes);
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#walk(buffer, this.#resumeAt);
  }

  // A walk starts at the beginning of `buffer` for everything not yet emitted: the open message (if any)
  // begins at 0, and frames before `from` were walked already.
  #walk(buffer: Buffer, from: number): void {
    const { masked, maxPayload, eachMessage, reserveControl } = this.#options;
    let offset = from;
    /** Start of whole messages not yet emitted. */
    let unitStart = 0;
    /** Start of the open fragmented message (its frames since the last ping/pong between them). */
    let messageStart = 0;
    let need = 0;
    while (!this.#stopped) {
      const available = buffer.length - offset;
      if (available < 2) {
        need = offset + 2;
        break;
      }
      const b0 = buffer[offset] as number;
      const b1 = buffer[offset + 1] as number;
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (available < 4) {
          need = offset + 4;
          break;
        }
        length = buffer.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (available < 10) {
          need = offset + 10;
          break;
        }
        // Over 4 GiB: past any maxPayload this relay takes.
        if (buffer.readUInt32BE(offset + 2) !== 0) return this.#violate(CLOSE_TOO_BIG, 'message too big');
        length = buffer.readUInt32BE(offset + 6);
        header = 10;
      }
      const frameMasked = (b1 & 0x80) !== 0;
      if (frameMasked) header += 4;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      // Checked on the header, before waiting for a payload that may never be welcome.
      if ((b0 & 0x70) !== 0) return this.#violate(CLOSE_PROTOCOL_ERROR, 'RSV bits set: no extension was negotiated');
      if (frameMasked !== masked) {
        return this.#violate(
          CLOSE_PROTOCOL_ERROR,
          masked ? 'a client frame must be masked' : 'a server frame must not be masked',
        );
      }
      if (opcode >= OPCODE_CLOSE) {
        if (opcode > OPCODE_PONG) return this.#violate(CLOSE_PROTOCOL_ERROR, `invalid opcode ${opcode}`);
        if (!fin || length > 125) return this.#violate(CLOSE_PROTOCOL_ERROR, 'invalid control frame');
      } else if (opcode === OPCODE_CONTINUATION) {
        if (this.#messageOpcode === 0)
          return this.#violate(CLOSE_PROTOCOL_ERROR, 'continuation frame without a message');
        if (this.#messagePayloadBytes + length > maxPayload) return this.#violate(CLOSE_TOO_BIG, 'message too big');
      } else if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
        if (this.#messageOpcode !== 0)
          return this.#violate(CLOSE_PROTOCOL_ERROR, 'new message inside a fragmented one');
        if (length > maxPayload) return this.#violate(CLOSE_TOO_BIG, 'message too big');
      } else {
        return this.#violate(CLOSE_PROTOCOL_ERROR, `invalid opcode ${opcode}`);
      }
      const end = offset + header + length;
      if (end > buffer.length) {
        need = end;
        break;
      }

      if (opcode >= OPCODE_CLOSE) {
        // The relay answers or consumes these: whole messages before it go first, an open message keeps its
        // frames so far aside and goes on after it.
        const completeEnd = this.#messageOpcode !== 0 ? messageStart : offset;
        if (completeEnd > unitStart) this.#sink.messages(buffer.subarray(unitStart, completeEnd));
        if (this.#messageOpcode !== 0 && offset > messageStart) {
          this.#pieces ??= [];
          this.#pieces.push(buffer.subarray(messageStart, offset));
        }
        const payload = buffer.subarray(offset + header, end);
        if (frameMasked) applyMask(payload, buffer.subarray(offset + header - 4, offset + header));
        offset = end;
        unitStart = messageStart = end;
        this.#sink.controlFrame(opcode, payload);
        continue;
      }

      const first = opcode !== OPCODE_CONTINUATION;
      if (first) {
        messageStart = offset;
        this.#messageOpcode = opcode;
        this.#messagePayloadBytes = 0;
      }
      this.#messagePayloadBytes += length;
      offset = end;
      if (!fin) continue;

      // A whole message [messageStart, end), plus pieces kept before a control frame between its fragments.
      const pieces = this.#pieces;
      const text = this.#messageOpcode === OPCODE_TEXT;
      this.#messageOpcode = 0;
      this.#pieces = undefined;
      if (pieces) {
        pieces.push(buffer.subarray(messageStart, end));
        this.#emitMessage(Buffer.concat(pieces), text && reserveControl);
        unitStart = end;
      } else if (text && reserveControl && startsWithControlPrefix(buffer, messageStart, end)) {
        if (messageStart > unitStart) this.#sink.messages(buffer.subarray(unitStart, messageStart));
        this.#emitMessage(buffer.subarray(messageStart, end), true);
        unitStart = end;
      } else if (eachMessage) {
        this.#sink.messages(buffer.subarray(messageStart, end));
        unitStart = end;
      }
    }
    if (this.#stopped) return;
    const keepFrom = this.#messageOpcode !== 0 ? messageStart : offset;
    if (keepFrom > unitStart) {
      this.#sink.messages(
        unitStart === 0 && keepFrom === buffer.length ? buffer : buffer.subarray(unitStart, keepFrom),
      );
    }
    if (this.#stopped) return;
    if (keepFrom === buffer.length) {
      this.#resumeAt = 0;
      this.#need = 0;
      return;
    }
    const kept = buffer.subarray(keepFrom);
    this.#pending = [kept.length < COPY_BELOW ? Buffer.from(kept) : kept];
    this.#pendingBytes = kept.length;
    this.#resumeAt = offset - keepFrom;
    this.#need = need - keepFrom;
  }

  #emitMessage(bytes: Buffer, maybeControl: boolean): void {
    if (maybeControl) {
      const { payload } = messagePayload(bytes);
      if (payload.subarray(0, CONTROL_PREFIX.length).equals(CONTROL_PREFIX)) {
        return this.#sink.controlMessage(payload.toString('utf8'));
      }
    }
    this.#sink.messages(bytes);
  }

  #violate(code: number, message: string): void {
    this.stop();
    this.#sink.violation(code, message);
  }
}

/**
 * Whether the text message in buffer[start, end) starts with the control prefix: read from its first frame
 * when that frame holds 7 payload bytes, else from the whole message (a fragmented message's first fragment
 * shorter than the prefix).
 */
function startsWithControlPrefix(buffer: Buffer, start: number, end: number): boolean {
  const b1 = buffer[start + 1] as number;
  const length = b1 & 0x7f;
  const header = length === 126 ? 4 : length === 127 ? 10 : 2;
  const frameLength =
    length === 126 ? buffer.readUInt16BE(start + 2) : length === 127 ? buffer.readUInt32BE(start + 6) : length;
  // Server frames are unmasked (checked above), so the payload is readable in place.
  if (frameLength >= CONTROL_PREFIX.length) {
    const payloadStart = start + header;
    // An app's text almost never starts with NUL: one byte decides, without a call into Buffer.compare.
    if (buffer[payloadStart] !== 0) return false;
    return (
      buffer.compare(CONTROL_PREFIX, 0, CONTROL_PREFIX.length, payloadStart, payloadStart + CONTROL_PREFIX.length) === 0
    );
  }
  if (((buffer[start] as number) & 0x80) !== 0) return false;
  const { payload } = messagePayload(buffer.subarray(start, end));
  return payload.subarray(0, CONTROL_PREFIX.length).equals(CONTROL_PREFIX);
}
