// bench/adapters: the NestJS bench app on @nestjs/platform-express (see _nest.ts).
import { main } from './_nest.js';

await main('express');
