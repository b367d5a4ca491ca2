// The one error type the codec throws. Callers branch on `code`, which is stable; `message` is for people.

export type WireErrorCode =
  /** The input ends inside a field (the seed says "underflow"). */
  | 'truncated'
  /** The frame has fewer bytes than its header's length field announces. */
  | 'length_mismatch'
  /** Wire version 0 or 1: known, but no longer spoken. */
  | 'unsupported_version'
  /** A wire version other than 0, 1 or 2. */
  | 'unknown_version'
  /** The header announces a frame larger than the configured maximum. */
  | 'frame_too_large'
  /** An int outside ±(2^53−1), which a JS number cannot hold exactly. */
  | 'int_range'
  /** A list count that is negative or larger than the bytes left could hold. */
  | 'bad_count'
  /** A timestamp outside Ptime's range (years 0–9999) or picoseconds outside the day. */
  | 'bad_ptime'
  /** A string of 0xFFFF bytes or more, which the u16 length prefix cannot carry. */
  | 'string_too_long'
  /** A VM image size that is negative or points past the end of the frame. */
  | 'bad_image_size'
  | 'unknown_tag'
  | 'unknown_vmtype'
  | 'unknown_event'
  | 'bad_exit_status'
  /** A value handed to the encoder that its field cannot carry (wrong type or out of range). */
  | 'bad_value'
  /** JSON that does not follow the vectors' schema. */
  | 'bad_json';

export class WireError extends Error {
  declare readonly code: WireErrorCode;
  /** The frame's id when its header was readable, so that a server can address its failure reply. */
  declare id: bigint | undefined;

  /**
   * Without a stack: what is wrong is the input, not the code that found it, and a client sending garbage
   * by the thousand would otherwise cost the daemon a stack trace per frame.
   */
  constructor(code: WireErrorCode, message: string, id?: bigint) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.code = code;
    this.id = id;
  }
}
WireError.prototype.name = 'WireError';

