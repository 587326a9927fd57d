// A lab VM's secrets: the files an order's opened secrets become, readable only by the VM's own user.
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRET_NAME } from '../../protocol/sealed-secret.js';
import { VmDriverError, type VmSecretFile } from '../vm-driver.js';
import type { VmUser } from './vm-user.js';

/** Where a VM's secrets go, under its home: `~/secrets/NAME`. */
export const SECRETS_DIR = 'secrets';

/**
 * Writes each secret to `home/secrets/NAME`, mode 0400, owned by the VM's user, in a folder of
 * mode 0700 owned by that user: no other lab VM (another uid) and no other user can read them.
 * Written with mode 0400 from the start (exclusive create), so no moment exists where it is wider.
 */
export async function installSecrets(home: string, user: VmUser, secrets: readonly VmSecretFile[]): Promise<void> {
  const dir = join(home, SECRETS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o700);
  for (const s of secrets) {
    // The name was checked by the gateway and the agent's message parser; checked again here because it becomes a path.
    if (!SECRET_NAME.test(s.name)) throw new VmDriverError('invalid_request', `labvm.deploy: secret name ${JSON.stringify(s.name.slice(0, 70))} is not a file name`);
    const path = join(dir, s.name);
    await writeFile(path, s.data, { mode: 0o400, flag: 'wx' });
    await chown(path, user.uid, user.gid);
  }
}
