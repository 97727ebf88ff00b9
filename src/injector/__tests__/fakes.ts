import { Kernel } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import { IKernelSecrets, ISecretMeta } from '../../api';
import { Answer, meta, mockServer } from '../../__tests__/fakes';

/**
 * The parts of a kernel connection the status follows.
 */
export class FakeKernel {
  constructor(readonly id: string) {}

  status: Kernel.Status = 'idle';
  readonly statusChanged = new Signal<this, Kernel.Status>(this);
  readonly connectionStatusChanged = new Signal<this, Kernel.ConnectionStatus>(
    this
  );

  setStatus(status: Kernel.Status): void {
    this.status = status;
    this.statusChanged.emit(status);
  }

  setConnection(status: Kernel.ConnectionStatus): void {
    this.connectionStatusChanged.emit(status);
  }
}

/**
 * The parts of a notebook's or console's session context the status
 * follows.
 */
export class FakeSessionContext {
  constructor(kernel: FakeKernel | null) {
    this.session = { kernel };
  }

  session: { kernel: FakeKernel | null } | null;
  readonly kernelChanged = new Signal<this, any>(this);

  setKernel(kernel: FakeKernel | null): void {
    const oldValue = this.session?.kernel ?? null;
    this.session = { kernel };
    this.kernelChanged.emit({ name: 'kernel', oldValue, newValue: kernel });
  }
}

/**
 * What the server says of a kernel's secrets.
 */
export function kernelSecrets(
  kernelId: string,
  extra: Partial<IKernelSecrets> = {}
): IKernelSecrets {
  return {
    kernel_id: kernelId,
    language: 'python',
    state: 'loaded',
    names: [],
    skipped: [],
    message: null,
    ...extra
  };
}

/**
 * A mocked secrets API whose kernel routes answer from `answers`, by
 * kernel ID, and that lists and creates secrets (metadata only); the
 * client on top of it is the real one.
 */
export function kernelServer() {
  const answers = new Map<string, Answer>();
  const secrets: ISecretMeta[] = [];
  const server = mockServer((method, path, body) => {
    if (path === 'secrets') {
      if (method === 'POST') {
        const created = meta(JSON.parse(body).name);
        secrets.push(created);
        return { status: 201, body: created };
      }
      return { status: 200, body: { project: 'default', secrets } };
    }
    const match = /^kernels\/([^/]+)(\/reload)?$/.exec(path);
    if (!match) {
      return { status: 404, body: { message: 'Not found' } };
    }
    const id = decodeURIComponent(match[1]);
    if ((method === 'POST') !== !!match[2]) {
      return { status: 405, body: { message: 'Method not allowed' } };
    }
    return (
      answers.get(id) ?? { status: 404, body: { message: 'No such kernel' } }
    );
  });
  return {
    ...server,
    answers,
    answer(id: string, body: IKernelSecrets | Answer) {
      answers.set(
        id,
        'status' in body && typeof body.status === 'number'
          ? (body as Answer)
          : { status: 200, body }
      );
    },
    /**
     * How many requests were made for a kernel's route.
     */
    count(id: string, method = 'GET'): number {
      return server.requests.filter(
        r => r.method === method && r.path.startsWith(`kernels/${id}`)
      ).length;
    }
  };
}

/**
 * Let pending promises and zero-delay timers run.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}
