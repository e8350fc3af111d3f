/**
 * The spool's files: a job's content and its done record share one file (the record a line after the content), an
 * older spool's standalone `<id>.done` is still read and retired, and a record written again replaces a torn one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, promises as fs } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Spool, type DoneRecord, type JobContent } from '../../src/device/spool.ts';
import { FaultyDisk } from '../../src/util/faulty-io.ts';

const CONTENT: JobContent = { to: ['bob@contoso.com'], subject: 'line one\nline two', text: 'a\nb\r\n', attachments: [], messageId: '<m@x>', createdAt: 1 };
const SENT: DoneRecord = { status: 'sent', reply: '250 2.0.0 OK', at: 2, messageId: '<m@x>' };

let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});
const newSpool = async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mfp-spool-'));
  return new Spool(path.join(dir, 'spool'));
};

describe('the spool files', () => {
  it('writes the done record after the content in the same file, and the content reads as before', async () => {
    const spool = await newSpool();
    await spool.write('j1', CONTENT);
    await spool.markDone('j1', SENT);
    expect(await fs.readdir(spool.dir)).toEqual(['j1.json']);
    expect(await fs.readFile(spool.pathFor('j1'), 'utf8')).toBe(`${JSON.stringify(CONTENT)}\n${JSON.stringify(SENT)}`);
    expect(await spool.read('j1')).toEqual(CONTENT); // its newlines are escaped: the content stays one line
    expect(await spool.done('j1')).toEqual(SENT);
    expect(await spool.entries()).toEqual([{ id: 'j1', hasContent: true, done: SENT }]);
    await spool.retire('j1');
    expect(await fs.readdir(spool.dir)).toEqual([]);
  });

  it('a later boot replaces a torn record with a whole one, and cuts what the torn one left after it', async () => {
    const spool = await newSpool();
    await spool.write('j1', CONTENT);
    await fs.appendFile(spool.pathFor('j1'), '\n{"status":"sent","reply":"250 2.0.0 OK and a long tail that the new record is shorter than');
    const later = new Spool(spool.dir); // a new boot: it did not write the content, so it reads where it ends
    expect(await later.done('j1')).toBeNull();
    await later.markDone('j1', SENT);
    expect(await fs.readFile(later.pathFor('j1'), 'utf8')).toBe(`${JSON.stringify(CONTENT)}\n${JSON.stringify(SENT)}`);
    expect(await later.done('j1')).toEqual(SENT);
  });

  it('a job whose content is gone gets a done record of its own, and retiring the job removes it', async () => {
    const spool = await newSpool();
    await fs.mkdir(spool.dir, { recursive: true });
    await spool.markDone('gone', SENT);
    expect(await fs.readdir(spool.dir)).toEqual(['gone.done']);
    expect(await spool.entries()).toEqual([{ id: 'gone', hasContent: false, done: SENT }]);
    await spool.retire('gone');
    expect(await fs.readdir(spool.dir)).toEqual([]);
  });

  it('reads an older spool: content alone in its file, the done record beside it; retiring removes both', async () => {
    const spool = await newSpool();
    await fs.mkdir(spool.dir, { recursive: true });
    await fs.writeFile(spool.pathFor('old'), JSON.stringify(CONTENT));
    await fs.writeFile(path.join(spool.dir, 'old.done'), JSON.stringify(SENT));
    const booted = new Spool(spool.dir);
    expect(await booted.entries()).toEqual([{ id: 'old', hasContent: true, done: SENT }]);
    expect(await booted.read('old')).toEqual(CONTENT);
    await booted.retire('old');
    expect(existsSync(booted.pathFor('old'))).toBe(false);
    expect(existsSync(path.join(spool.dir, 'old.done'))).toBe(false);
  });

  it('a record that cannot be written changes nothing on a failing disk, and the same record goes in once it works', async () => {
    const spool0 = await newSpool();
    const disk = new FaultyDisk();
    const spool = new Spool(spool0.dir, disk.spoolIo());
    await spool.write('j1', CONTENT);
    disk.inject({ kind: 'write', at: 1, errno: 'ENOSPC', persistent: false, area: 'spool' });
    await expect(spool.markDone('j1', SENT)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await fs.readFile(spool.pathFor('j1'), 'utf8')).toBe(JSON.stringify(CONTENT));
    await spool.markDone('j1', SENT);
    expect(await fs.readFile(spool.pathFor('j1'), 'utf8')).toBe(`${JSON.stringify(CONTENT)}\n${JSON.stringify(SENT)}`);
  });
});
