/**
 * Headless Chromium driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: commands on its fd 3, answers and events on its
 * fd 4, each a JSON text ended by a NUL byte), so a test can click, type and
 * read what the page shows. No package is needed and nothing listens on a
 * port. Each browser has its own profile and is killed, with its children,
 * when closed or when its bound runs out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export interface Page {
  /** Evaluates an expression in the page and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** A real mouse click at the centre of the first element `selector` matches. */
  click(selector: string): Promise<void>;
  /** Types text into the element focused. */
  type(text: string): Promise<void>;
  /** A PNG of the viewport. */
  screenshot(): Promise<Buffer>;
  /** What the page logged: console messages, uncaught exceptions, Content-Security-Policy violations. */
  readonly logged: string[];
  close(): Promise<void>;
}

/** Opens `file` in a new headless Chromium, viewport width × height, and resolves once it has loaded. */
export async function openPage(chromium: string, file: string, width = 1280, height = 2000, timeoutMs = 60_000): Promise<Page> {
  const profile = mkdtempSync(join(tmpdir(), 'conformance-cdp-'));
  const child: ChildProcess = spawn(chromium, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars', `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });
  const kill = (): void => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const bound = setTimeout(kill, timeoutMs);
  child.stderr?.resume();
  const input = child.stdio[3] as Writable;
  const output = child.stdio[4] as Readable;
  let next = 0;
  const waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Message) => void> = [];
  const logged: string[] = [];
  let buffered = '';
  output.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\0'); end !== -1; end = buffered.indexOf('\0')) {
      const m = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      if (m.id !== undefined) {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error) w?.reject(new Error(m.error.message));
        else w?.resolve(m);
      } else for (const l of listeners) l(m);
    }
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  closed.then(() => {
    for (const w of waiting.values()) w.reject(new Error('Chromium ended'));
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve: (m) => resolve(m.result ?? {}), reject });
      input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  const event = (method: string): Promise<Message> => new Promise((resolve) => listeners.push((m) => m.method === method && resolve(m)));

  const { targetInfos } = (await send('Target.getTargets')) as { targetInfos: Array<{ targetId: string; type: string }> };
  const target = targetInfos.find((t) => t.type === 'page');
  if (!target) throw new Error('Chromium opened no page');
  const { sessionId } = (await send('Target.attachToTarget', { targetId: target.targetId, flatten: true })) as { sessionId: string };
  const cmd = (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> => send(method, params, sessionId);
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return;
    const p = m.params ?? {};
    if (m.method === 'Runtime.consoleAPICalled') logged.push(`console.${String(p['type'])}: ${JSON.stringify(p['args'])}`);
    if (m.method === 'Runtime.exceptionThrown') logged.push(`exception: ${JSON.stringify(p['exceptionDetails'])}`);
    if (m.method === 'Log.entryAdded') logged.push(`log: ${JSON.stringify(p['entry'])}`);
  });
  await cmd('Page.enable');
  await cmd('Runtime.enable');
  await cmd('Log.enable');
  await cmd('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
  const loaded = event('Page.loadEventFired');
  await cmd('Page.navigate', { url: pathToFileURL(file).href });
  await loaded;

  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = (await cmd('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as { result: { value: T }; exceptionDetails?: unknown };
    if (r.exceptionDetails) throw new Error(`evaluating ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  return {
    logged,
    evaluate,
    async click(selector) {
      const at = await evaluate<{ x: number; y: number } | null>(`(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return null; e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`);
      if (!at) throw new Error(`nothing matches ${selector}`);
      for (const type of ['mousePressed', 'mouseReleased']) await cmd('Input.dispatchMouseEvent', { type, x: at.x, y: at.y, button: 'left', clickCount: 1 });
    },
    async type(text) {
      await cmd('Input.insertText', { text });
    },
    async screenshot() {
      await evaluate('window.scrollTo(0, 0)');
      const { data } = (await cmd('Page.captureScreenshot', { format: 'png' })) as { data: string };
      return Buffer.from(data, 'base64');
    },
    async close() {
      clearTimeout(bound);
      await send('Browser.close').catch(() => undefined);
      const late = setTimeout(kill, 5_000);
      await closed;
      clearTimeout(late);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
