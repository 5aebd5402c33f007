// A forked child process of the benchmark, spoken to one request at a time over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import type { ChildMessage, ParentMessage } from './engine-protocol.js';

type Reply<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>;

export class Child {
  readonly #process: ChildProcess;
  #waiting: { type: string; resolve: (m: ChildMessage) => void; reject: (e: Error) => void } | undefined;
  #exited = false;
  readonly #ready: Promise<void>;

  /** Forks `modulePath` with this process's exec arguments (tsx's loader) and extra environment. */
  constructor(modulePath: string, env: Record<string, string> = {}) {
    this.#process = fork(modulePath, [], {
      env: { ...process.env, ...env },
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#waiting = { type: 'ready', resolve: () => resolve(), reject };
    });
    this.#process.on('message', (message: ChildMessage) => {
      const waiting = this.#waiting;
      if (!waiting) return;
      this.#waiting = undefined;
      if (message.type === 'error') waiting.reject(new Error(`child ${modulePath}: ${message.message}`));
      else if (message.type !== waiting.type)
        waiting.reject(new Error(`child ${modulePath}: expected ${waiting.type}, got ${message.type}`));
      else waiting.resolve(message);
    });
    this.#process.on('exit', (code, signal) => {
      this.#exited = true;
      this.#waiting?.reject(new Error(`child ${modulePath} exited (${code ?? signal})`));
      this.#waiting = undefined;
    });
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  async ask<T extends ChildMessage['type']>(message: ParentMessage, reply: T): Promise<Reply<T>> {
    if (this.#waiting) throw new Error('one request at a time');
    if (this.#exited) throw new Error('the child has exited');
    return new Promise<Reply<T>>((resolve, reject) => {
      this.#waiting = { type: reply, resolve: (m) => resolve(m as Reply<T>), reject };
      this.#process.send(message);
    });
  }

  /** CPU time (ms, user + system) the child has used so far. */
  async cpuMs(): Promise<number> {
    const m = await this.ask({ type: 'cpu' }, 'cpu');
    return m.userMs + m.systemMs;
  }

  /** Asks the child to stop and waits for it to exit (killed after 10 s). */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#process.once('exit', () => resolve()));
    this.#waiting?.reject(new Error('stopping'));
    this.#waiting = undefined;
    this.#process.send({ type: 'stop' } satisfies ParentMessage);
    const timer = setTimeout(() => this.#process.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
