// The header tags of WV2. A request's tag names its channel (high byte) and operation (low byte);
// a reply sets bit 31; failure is the all-ones tag.

export const Tag = {
  ConsoleAdd: 0x0100,
  ConsoleAttach: 0x0101,
  ConsoleData: 0x0102,
  StatsAdd: 0x0200,
  StatsRemove: 0x0201,
  StatsSubscribe: 0x0202,
  StatsData: 0x0203,
  LogLog: 0x0300,
  LogSubscribe: 0x0301,
  /** Reserved: the seed has no encoder or decoder for it, so a frame with this tag is an unknown tag. */
  LogBroadcast: 0x0302,
  VmCreate: 0x0400,
  VmDestroy: 0x0401,
  VmInfo: 0x0402,
} as const;

export const REPLY_BIT = 0x80000000;
export const FAIL_TAG = 0xffffffff;
/** The reply to Vm Info carries a list of VMs rather than a success message. */
export const INFO_REPLY_TAG = (REPLY_BIT | Tag.VmInfo) >>> 0;

export function isReplyTag(tag: number): boolean {
  return tag >= REPLY_BIT;
}
