/**
 * The bytes of a non-TTY container's log, stdout and stderr interleaved in
 * the order they were written. Docker multiplexes them into frames headed by
 * 8 bytes: the stream (1 byte), 3 zero bytes, the payload size (uint32 BE).
 */
export function demuxDockerLog(raw: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    chunks.push(raw.subarray(offset + 8, Math.min(raw.length, offset + 8 + size)));
    offset += 8 + size;
  }
  return Buffer.concat(chunks);
}

/**
 * The end of `bytes` as text, at most `maxBytes` of it, cut on a character
 * boundary so no half-character opens it. `truncated` says that earlier
 * output was dropped.
 */
export function tailText(bytes: Buffer, maxBytes: number): { text: string; truncated: boolean } {
  if (bytes.length <= maxBytes) return { text: bytes.toString("utf8"), truncated: false };
  let start = bytes.length - maxBytes;
  // Skip UTF-8 continuation bytes (10xxxxxx): they belong to a character that starts earlier.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return { text: bytes.subarray(start).toString("utf8"), truncated: true };
}
