import { Kernel, KernelMessage } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';

import { EnvironmentCache } from '../cache';
import { STATUS_EXPRESSION } from '../generators';
import { KernelInjector } from '../injector';

/**
 * The parts of a kernel connection the injector uses, recording each
 * execute request and letting the test answer it.
 */
export class FakeKernel {
  constructor(
    readonly name = 'python3',
    language = 'python'
  ) {
    this.info = Promise.resolve({
      language_info: { name: language }
    } as any);
  }

  status: Kernel.Status = 'idle';
  connectionStatus: Kernel.ConnectionStatus = 'connected';
  isDisposed = false;
  info: Promise<KernelMessage.IInfoReply>;
  readonly statusChanged = new Signal<this, Kernel.Status>(this);
  readonly connectionStatusChanged = new Signal<this, Kernel.ConnectionStatus>(
    this
  );
  readonly disposed = new Signal<this, void>(this);
  readonly requests: Array<{
    content: KernelMessage.IExecuteRequestMsg['content'];
    reply: PromiseDelegate<any>;
  }> = [];

  requestExecute(content: KernelMessage.IExecuteRequestMsg['content']) {
    const reply = new PromiseDelegate<any>();
    this.requests.push({ content, reply });
    return { done: reply.promise } as any;
  }

  /**
   * Answer the last request as ipykernel would when the code ran `outcome`.
   */
  answer(outcome: 'ok' | 'error' | 'aborted' | 'no-expressions' | 'failed') {
    const { content, reply } = this.requests[this.requests.length - 1];
    const token = /'([0-9a-f]{32}):error:wrapper'/.exec(content.code)?.[1];
    const status =
      outcome === 'aborted' ? 'aborted' : outcome === 'error' ? 'error' : 'ok';
    reply.resolve({
      content: {
        status,
        execution_count: 0,
        user_expressions:
          outcome === 'no-expressions'
            ? {}
            : {
                [STATUS_EXPRESSION]: {
                  status: 'ok',
                  data: {
                    'text/plain':
                      outcome === 'failed'
                        ? `'${token}:error:ValueError'`
                        : `'${token}:ok'`
                  }
                }
              }
      }
    });
    return new Promise(resolve => setTimeout(resolve, 0));
  }

  setStatus(status: Kernel.Status) {
    this.status = status;
    this.statusChanged.emit(status);
  }

  setConnection(status: Kernel.ConnectionStatus) {
    this.connectionStatus = status;
    this.connectionStatusChanged.emit(status);
  }
}

/**
 * An injector over a cache that answers `environment`, or fails while it
 * is `null`, with the languages of a few kernelspecs.
 */
export async function setup(
  environment: Record<string, string> | null = { A_KEY: 'a' }
) {
  let answer = environment;
  const cache = new EnvironmentCache(async () => {
    if (!answer) {
      throw new Error('unreachable');
    }
    return answer;
  });
  await cache.refresh().catch(() => undefined);
  const languages: Record<string, string> = {
    python3: 'python',
    bash: 'bash',
    ir: 'R',
    node: 'javascript'
  };
  const injector = new KernelInjector({
    cache,
    languageOf: kernel => languages[kernel.name]
  });
  return {
    cache,
    injector,
    setAnswer: (value: Record<string, string> | null) => {
      answer = value;
    }
  };
}

export const asKernel = (fake: FakeKernel) =>
  fake as unknown as Kernel.IKernelConnection;
