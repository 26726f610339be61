import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';

export const root = join(__dirname, '..', '..');

/**
 * `kubectl kustomize DIR`: renders a kustomization offline, exactly what `kubectl apply -k DIR`
 * would apply. kubectl is part of the machine image (CI included); without it the deploy tests
 * fail, never skip, and say why. `kubectl` is a parameter only so that a test can show that message.
 */
export function kustomize(dir: string, kubectl = 'kubectl'): string {
  try {
    return execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `kubectl not found on PATH: the deploy tests render deploy/ with \`kubectl kustomize\` ` +
          '(kubectl 1.27 or later, built-in kustomize v5). Install kubectl (it is part of the machine image).',
      );
    }
    throw new Error(`kubectl kustomize ${relative(root, dir)} failed: ${e.stderr?.trim() || e.message}`);
  }
}
