// Text from outside (a config value, a logged field) made safe to print on one line: characters a
// terminal acts on (C0, DEL, C1: ESC sequences, BEL), a reader takes for a line end (U+2028,
// U+2029) or that reorder what is shown (the bidi marks, overrides and isolates: U+061C, U+200E,
// U+200F, U+202A–U+202E, U+2066–U+2069) are written as \uXXXX, so a value cannot fake a second
// line, recolour the terminal or make the text after it read backwards.

/** Those characters, as the inside of a RegExp character class (one list for every user of it). */
export const CONTROL_CHARS = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';

const CONTROL = new RegExp(`[${CONTROL_CHARS}]`, 'g');

export const escapeControls = (s: string): string => s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The longest value an error message shows (a 900 000-digit PORT must not become a 900 KB line). */
export const SHOWN_MAX = 200;

/** A value from the user as one bounded line of a message: control characters escaped, cut at SHOWN_MAX. */
export function oneLine(text: string): string {
  const line = escapeControls(text);
  return line.length > SHOWN_MAX ? `${line.slice(0, SHOWN_MAX)}… (${line.length} characters)` : line;
}
