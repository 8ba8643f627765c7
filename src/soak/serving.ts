// Which of the command's Node processes serves the URL. A command that is not `node` gets
// --inspect in NODE_OPTIONS, so every Node process under it opens an inspector: `npm start` announces
// npm's own first, and measuring npm passes any leak of the service under it. And a port held by
// another process accepts connections although the service could not listen: load on it measures
// an idle service. So the soak measures the process that listens on the URL's port, or refuses.
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT_GRACE_MS, exitedWithin, LISTENING, SoakStartError, withOutput, type StartedChild } from './child.js';
import { connectInspector, type InspectorProbe } from './inspector.js';

/** True in a target that has a listening server on `port` (any address). */
export const listensOn = (port: number): string => `${LISTENING}.some((a) => a.port === ${port})`;

/** "pid 4242 (node server.js)" for a message. */
const WHO = `'pid ' + process.pid + ' (' + [process.argv0].concat((process.argv || []).slice(1).map((a) => a.split('/').pop())).join(' ').slice(0, 80) + ')'`;

/**
 * Connects to the inspector of the child's process that listens on `url`'s port, waiting up to
 * `timeoutMs` for one; closes the others. Throws SoakStartError naming the processes found when
 * none listens there (a wrapper whose service failed to start, a port held by another process),
 * or when the child exits meanwhile.
 */
export async function connectServing(child: StartedChild, url: URL, timeoutMs: number, signal?: AbortSignal): Promise<InspectorProbe> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const probes = new Map<string, InspectorProbe | Error>();
  const deadline = performance.now() + timeoutMs;
  let serving: InspectorProbe | undefined;
  const watch = child.watchLeaving();
  let letGo = false;
  try {
    for (;;) {
      if (signal?.aborted) throw new SoakStartError('soak: stopped before the service was up');
      for (const u of child.inspectorUrls()) {
        let p = probes.get(u);
        // A failed connection is tried again on the next round: the target may have been booting.
        if (p === undefined || p instanceof Error) {
          p = await connectInspector(u).catch((err: Error) => err);
          probes.set(u, p);
        }
        if (p instanceof Error) continue;
        if ((await p.evaluate(listensOn(port)).catch(() => false)) === true) return (serving = p);
      }
      if (watch.isLeaving() && !letGo) {
        // A Node process dying with our inspector attached (EADDRINUSE, say) waits for it to let go:
        // let go, so that it ends and prints why (which tells whether another start may work). Once:
        // under a wrapper the one leaving may be another process (a pre-script), not the command.
        letGo = true;
        await closeAll(probes);
        await exitedWithin(child, EXIT_GRACE_MS);
      }
      const exit = child.exit();
      if (exit)
        throw new SoakStartError(withOutput(`soak: the service exited during start-up (${exit.signal ?? `code ${exit.code}`})`, child));
      if (performance.now() > deadline) {
        const found: string[] = [];
        for (const p of probes.values()) {
          if (p instanceof Error) found.push(`an inspector that did not answer (${p.message})`);
          else found.push(String(await p.evaluate(WHO).catch(() => `pid ${p.pid}`)));
        }
        throw new SoakStartError(
          withOutput(
            `soak: something accepts connections on ${url.host}, but no Node process the command started listens on port ${port} ` +
              `(inspected: ${found.join(', ') || 'none'}). Another process may hold the port (ss -ltnp 'sport = :${port}' names it), ` +
              'or the service failed to listen',
            child,
          ),
        );
      }
      await sleep(100);
    }
  } finally {
    await closeAll(probes, serving);
  }
}

/** Closes every connected probe but `keep`, and forgets them. */
async function closeAll(probes: Map<string, InspectorProbe | Error>, keep?: InspectorProbe): Promise<void> {
  for (const p of probes.values()) if (!(p instanceof Error) && p !== keep) await p.close().catch(() => undefined);
  probes.clear();
}
