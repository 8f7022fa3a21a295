/**
 * The time-skipping test server must listen on 127.0.0.1 only (project rule: nothing listens beyond
 * loopback unless configured to). Upstream's main binds every interface; the provisioned wrapper runs
 * scripts/maven/LoopbackTestServer.java instead. The listening socket is read from /proc/net/tcp{,6}
 * and traced to its owning process, so the check is about the real JVM, not the wrapper's text.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureTestServer } from '../../scripts/provision';
import { createTimeSkippingEnv } from '../helpers/temporal';

interface ListeningSocket {
  address: string;
  port: number;
  inode: string;
}

/** Decodes the kernel's hex address (each 32-bit word in host = little-endian order) to text. */
function decodeProcAddress(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const le = hex.slice(word, word + 8);
    for (let i = 6; i >= 0; i -= 2) bytes.push(Number.parseInt(le.slice(i, i + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytes.slice(12).join('.')}`;
  if (groups.every((g) => g === 0)) return '::';
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return '::1';
  return groups.map((g) => g.toString(16)).join(':');
}

/** TCP sockets in LISTEN state (0A) on `port`, IPv4 and IPv6. */
async function listeningSockets(port: number): Promise<ListeningSocket[]> {
  const found: ListeningSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await fs.readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [addressHex, portHex] = (fields[1] ?? '').split(':');
      if (fields[3] !== '0A' || !addressHex || !portHex || Number.parseInt(portHex, 16) !== port) continue;
      found.push({ address: decodeProcAddress(addressHex), port, inode: fields[9] ?? '' });
    }
  }
  return found;
}

/** Command name of the process holding socket `inode`, by scanning /proc/<pid>/fd. */
async function socketOwner(inode: string): Promise<string | undefined> {
  const target = `socket:[${inode}]`;
  for (const pid of (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === target) {
        return (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      }
    }
  }
  return undefined;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

function runWrapper(
  wrapper: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(wrapper, args, { env, timeout: 60_000 }, (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stderr });
    });
  });
}

describe('socket inspection (the check itself can fail)', () => {
  it('decodes kernel addresses', () => {
    assert.equal(decodeProcAddress('0100007F'), '127.0.0.1');
    assert.equal(decodeProcAddress('00000000'), '0.0.0.0');
    assert.equal(decodeProcAddress('0000000000000000FFFF00000100007F'), '::ffff:127.0.0.1');
    assert.equal(decodeProcAddress('00000000000000000000000000000000'), '::');
    assert.equal(decodeProcAddress('00000000000000000000000001000000'), '::1');
  });

  it('reports a wildcard listener as not loopback', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, resolve)); // no host: every interface
    try {
      const port = (server.address() as net.AddressInfo).port;
      const sockets = await listeningSockets(port);
      assert.ok(sockets.length > 0, `found the listener on ${port}`);
      assert.ok(sockets.every((s) => !isLoopback(s.address)), JSON.stringify(sockets));
      assert.equal(await socketOwner(sockets[0]?.inode ?? ''), 'node');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('time-skipping test server listen address', () => {
  let env: TestWorkflowEnvironment;
  let startMs: number;

  before(async () => {
    const started = Date.now();
    env = await createTimeSkippingEnv();
    startMs = Date.now() - started;
  });

  after(async () => {
    await env?.teardown();
  });

  it('listens on loopback only, from the java process, and still skips time', async () => {
    const port = Number(env.address.split(':').pop());
    assert.ok(Number.isInteger(port) && port > 0, `port from ${env.address}`);
    const sockets = await listeningSockets(port);
    assert.ok(sockets.length > 0, `a listener on ${port}`);
    for (const socket of sockets) {
      assert.ok(isLoopback(socket.address), `listens on ${socket.address}:${port}, expected 127.0.0.1`);
      assert.equal(await socketOwner(socket.inode), 'java');
    }
    assert.equal(env.supportsTimeSkipping, true);
    const before = await env.currentTimeMs();
    await env.sleep('1 day');
    assert.ok((await env.currentTimeMs()) - before >= 86_400_000, 'a day passed in test time');
    // Not an assertion on speed: printed so a slower start (the SDK allows 5 s) shows in the log.
    process.stdout.write(`# test env started in ${startMs} ms\n`);
  });
});

describe('LoopbackTestServer arguments', () => {
  let wrapper: string;

  before(async () => {
    wrapper = await ensureTestServer();
  });

  it('prints upstream usage and exits 2 for missing or bad arguments', async () => {
    const none = await runWrapper(wrapper, []);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: <command> <port> <flags>/);
    const flag = await runWrapper(wrapper, ['0', '--bogus']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Unknown flag --bogus/);
    const port = await runWrapper(wrapper, ['http']);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /Invalid port: http/);
  });

  it('says which address is taken when the port is in use, and exits 1', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const port = (holder.address() as net.AddressInfo).port;
      const result = await runWrapper(wrapper, [String(port), '--enable-time-skipping']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: `));
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('names PHOENIX_TEST_SERVER_HOST when it does not resolve', async () => {
    const result = await runWrapper(wrapper, ['0'], { ...process.env, PHOENIX_TEST_SERVER_HOST: 'no-such-host.invalid' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /PHOENIX_TEST_SERVER_HOST=no-such-host\.invalid does not resolve/);
  });
});
