// Types for the one undici module the proxy loads by path (see proxy.ts): undici's own Pool.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
