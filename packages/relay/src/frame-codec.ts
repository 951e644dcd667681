// The few WebSocket frames (RFC 6455 §5) the relay writes or reads itself: its own close and pong frames, a
// close frame's code and reason, and a whole message's payload when a message id must be read (a move's
// overlap). Everything else crosses the relay as the bytes that came in.

import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

/** RFC 6455 §7.4.1: 1002 protocol error, 1007 invalid payload data, 1009 message too big. */
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_TOO_BIG = 1009;
/** The close frame carried no code (§7.1.5); never sent. */
export const CLOSE_NO_STATUS = 1005;
/** The connection ended without a close frame (§7.1.5); never sent. */
export const CLOSE_ABNORMAL = 1006;

/** Masking keys come from one pool, refilled 1,024 keys at a time: a frame of the relay's own is rare. */
const keyPool = Buffer.alloc(4096);
let keyOffset = keyPool.length;

function nextMaskKey(): Buffer {
  if (keyOffset === keyPool.length) {
    randomFillSync(keyPool);
    keyOffset = 0;
  }
  const key = keyPool.subarray(keyOffset, keyOffset + 4);
  keyOffset += 4;
  return key;
}

/** XOR `payload` with the 4-byte `key` in place (masking and unmasking are the same operation). */
export function applyMask(payload: Buffer, key: Buffer): void {
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (key[i & 3] as number);
}

/**
 * One whole frame. A client's frames are masked (§5.3: `masked` true when the relay writes to a gateway), a
 * server's are not (to a client).
 */
export function encodeFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = 2 + extended + (masked ? 4 : 0);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | opcode;
  frame[1] = (masked ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) frame.writeUInt16BE(length, 2);
  else if (extended === 8) {
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, header);
  if (masked) {
    const key = nextMaskKey();
    key.copy(frame, header - 4);
    applyMask(frame.subarray(header), key);
  }
  return frame;
}

/** A close frame's payload: the code and at most 123 bytes of reason (§5.5: control payloads ≤ 125 bytes). */
export function closePayload(code: number | undefined, reason: string): Buffer {
  if (code === undefined || code === CLOSE_NO_STATUS) return Buffer.alloc(0);
  let text = Buffer.from(reason, 'utf8');
  // Cut at a character boundary, so the reason stays valid UTF-8.
  if (text.length > 123) {
    let end = 123;
    while (end > 0 && ((text[end] as number) & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/** A code an endpoint may put in a close frame (§7.4: 1004–1006 and 1015 are reserved, 3000–4999 registered/private). */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

export type ParsedClose = { code: number; reason: string } | { violation: number; message: string };

/** A received close frame's payload (unmasked), checked as §5.5.1 and §7.4 require. */
export function parseClosePayload(payload: Buffer): ParsedClose {
  if (payload.length === 0) return { code: CLOSE_NO_STATUS, reason: '' };
  if (payload.length === 1) return { violation: CLOSE_PROTOCOL_ERROR, message: 'close frame of 1 byte' };
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code)) return { violation: CLOSE_PROTOCOL_ERROR, message: `invalid close code ${code}` };
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) return { violation: CLOSE_INVALID_PAYLOAD, message: 'close reason is not UTF-8' };
  return { code, reason: reason.toString('utf8') };
}

/**
 * The payload of one whole message given as its frames' bytes (control frames between its fragments
 * skipped), unmasked into a new buffer; and whether it is text. The frames were checked on the way in.
 */
export function messagePayload(bytes: Buffer): { text: boolean; payload: Buffer } {
  const parts: Buffer[] = [];
  let total = 0;
  let text = false;
  let offset = 0;
  while (offset < bytes.length) {
    const b0 = bytes[offset] as number;
    const b1 = bytes[offset + 1] as number;
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(offset + 2);
      header = 4;
    } else if (length === 127) {
      length = bytes.readUInt32BE(offset + 6);
      header = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(offset + header, offset + header + 4) : undefined;
    if (masked) header += 4;
    const opcode = b0 & 0x0f;
    const start = offset + header;
    offset = start + length;
    if (opcode >= OPCODE_CLOSE) continue;
    if (opcode === OPCODE_TEXT) text = true;
    const part = Buffer.from(bytes.subarray(start, offset));
    if (key) applyMask(part, key);
    parts.push(part);
    total += length;
  }
  return { text, payload: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, total) };
}

/** A whole message as an application sees it (text as a string): what a message-id function reads. */
export function decodeMessage(bytes: Buffer): string | Buffer {
  const { text, payload } = messagePayload(bytes);
  return text ? payload.toString('utf8') : payload;
}
