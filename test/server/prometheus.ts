// A strict-enough check of the Prometheus text exposition format (version 0.0.4).
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(\\{(${LABEL})(,${LABEL})*,?\\})? (-?[0-9.eE+-]+|NaN|\\+Inf|-Inf)( -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** Returns the metric names seen (from TYPE lines); throws on the first malformed line. */
export function parsePrometheus(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const type = TYPE.exec(line);
    if (type) {
      if (types.has(type[1]!)) throw new Error(`line ${i + 1}: second TYPE for ${type[1]}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (HELP.test(line)) continue;
    if (!SAMPLE.test(line)) throw new Error(`line ${i + 1} is not valid exposition format: ${line}`);
  }
  return types;
}
