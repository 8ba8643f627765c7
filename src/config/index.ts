export { loadConfig, ConfigError, suggest, type LoadConfigInput, type LoadedConfig } from './load.js';
export { sections, allOptions, parseConfig, type Config, type ConfigIssue, type SectionName } from './schema.js';
export { renderConfigDocs } from './docs.js';
