// headroom-memory/gateway: the whole gateway (`headroom serve`) inside a program of your own.
// loadConfig() reads the configuration the way the CLI does (flags > env > file > default; pass
// `env: process.env` yourself: a library never reads it) and createGateway() starts the parts.
//
//   const { config } = loadConfig({ env: process.env });
//   const gateway = await createGateway(config);
//   await gateway.listen();
//   process.once('SIGTERM', () => void gateway.shutdown());
export { createGateway, type Gateway, type GatewayOptions } from './server/gateway.js';
export { loadConfig, ConfigError, type Config, type LoadConfigInput, type LoadedConfig } from './config/index.js';
