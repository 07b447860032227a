// How an SMS will travel, as the agent types: the alphabet (GSM 7-bit when every
// character is in its tables, else UCS-2) and the number of parts. The same rules as
// the switch's encoder (drivers/gsm/pdu.py): 160 septets or 70 UCS-2 units in one part;
// past that 153 / 67 per part (8-bit concatenation header); an extension-table character
// costs two septets, a character beyond the BMP two UCS-2 units; parts are cut between
// characters.

const BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION = "\f^{}\\[~]|€";

function septets(ch) {
  if (ch !== "\u001b" && BASIC.includes(ch)) return 1;
  if (EXTENSION.includes(ch)) return 2;
  return 0;
}

export function smsInfo(text) {
  const chars = Array.from(text);
  const gsm7 = chars.every((ch) => septets(ch) > 0);
  const cost = gsm7 ? septets : (ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1);
  const single = gsm7 ? 160 : 70;
  const room = gsm7 ? 153 : 67;
  const total = chars.reduce((sum, ch) => sum + cost(ch), 0);
  const encoding = gsm7 ? "gsm7" : "ucs2";
  if (total <= single) return { encoding, parts: 1, left: single - total, units: total };
  let parts = 1;
  let used = 0;
  for (const ch of chars) {
    const c = cost(ch);
    if (used + c > room) {
      parts += 1;
      used = 0;
    }
    used += c;
  }
  return { encoding, parts, left: room - used, units: total };
}
