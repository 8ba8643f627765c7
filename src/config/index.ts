export { loadConfig, ConfigError, suggest, type LoadConfigInput, type LoadedConfig } from './load.js';
export { sections, allOptions, configSchema, type Config, type SectionName } from './schema.js';
export { renderConfigDocs } from './docs.js';
