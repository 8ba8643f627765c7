// Text from outside (a config value, a logged field) made safe to print on one line: characters a
// terminal acts on (C0, DEL, C1: ESC sequences, BEL) or a reader takes for a line end (U+2028,
// U+2029) are written as \uXXXX, so a value cannot fake a second line or recolour the terminal.

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export const escapeControls = (s: string): string => s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
