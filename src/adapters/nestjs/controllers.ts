// The proxy and image routes as Nest controllers, so the app's middleware, guards, interceptors
// and exception filters run before them exactly as for its own routes. Classes are made per mount
// path and decorated by calling the decorators as functions (no decorator syntax, so the package
// needs neither experimentalDecorators nor emitDecoratorMetadata).
import { All, Controller, Get, Inject, Req, Res, type Type } from '@nestjs/common';
import { wildcard, type ProxyWiring } from './mount.js';
import type { AnyRequest, AnyResponse } from './raw.js';
import { forwardUnder, HeadroomService } from './service.js';

function route(target: object, method: string, decorator: MethodDecorator): void {
  decorator(target, method, Object.getOwnPropertyDescriptor(target, method)!);
  Req()(target, method, 0);
  Res()(target, method, 1);
}

export interface ProxyControllerType extends Type {
  /** Sets the route paths for the platform; called once the platform is known, before app.init() registers routes. */
  forPlatform(platform: string | undefined): void;
}

/**
 * ANY <mount> and <mount>/* → the proxy (the mount is replaced by the proxy's prefix). The full mount
 * (global prefix included) is in `wiring` once Nest has registered the routes.
 */
export function proxyController(mount: string, wiring: ProxyWiring): ProxyControllerType {
  class HeadroomProxyController {
    constructor(private readonly headroom: HeadroomService) {}
    proxy(req: AnyRequest, res: AnyResponse): void {
      forwardUnder(this.headroom.headroom, req, res, [wiring.mount ?? mount], wiring.caseInsensitive);
    }
  }
  Inject(HeadroomService)(HeadroomProxyController, undefined, 0);
  route(HeadroomProxyController.prototype, 'proxy', All(['', wildcard(undefined)]));
  Controller(mount)(HeadroomProxyController);
  return Object.assign(HeadroomProxyController, {
    forPlatform(platform: string | undefined): void {
      const proto = HeadroomProxyController.prototype;
      All(['', wildcard(platform)])(proto, 'proxy', Object.getOwnPropertyDescriptor(proto, 'proxy')!);
    },
  });
}

/** GET <path>?url=&w=&h=&q=&format= → the image service. */
export function imageController(path: string): Type {
  class HeadroomImageController {
    constructor(private readonly headroom: HeadroomService) {}
    image(req: AnyRequest, res: AnyResponse): Promise<void> {
      return this.headroom.imageRequest(req, res);
    }
  }
  Inject(HeadroomService)(HeadroomImageController, undefined, 0);
  route(HeadroomImageController.prototype, 'image', Get());
  Controller(path)(HeadroomImageController);
  return HeadroomImageController;
}
