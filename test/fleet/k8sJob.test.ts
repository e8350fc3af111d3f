/**
 * docs/k8s/fleet-job.yaml, parsed with the `yaml` library: a batch/v1 Indexed Job whose pods run `mfp-sim fleet`
 * with the shard index from JOB_COMPLETION_INDEX and MFP_FLEET_SHARDS equal to the Job's completions; and the same
 * manifest is the one docs/scaling.md shows.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { resolveShard } from '../../src/fleet/cli.ts';

const manifestUrl = new URL('../../docs/k8s/fleet-job.yaml', import.meta.url);

describe('the fleet Job manifest (docs/k8s/fleet-job.yaml)', () => {
  it('is one valid YAML document: a batch/v1 Job, completionMode Indexed, running fleet shards', async () => {
    const text = await readFile(manifestUrl, 'utf8');
    const docs = parseAllDocuments(text);
    expect(docs).toHaveLength(1);
    expect(docs[0].errors).toEqual([]);
    const job = docs[0].toJS() as {
      apiVersion: string;
      kind: string;
      spec: { completionMode: string; completions: number; parallelism: number; template: { spec: { restartPolicy: string; containers: { args: string[]; env: { name: string; value: string }[] }[] } } };
    };
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.kind).toBe('Job');
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.completions).toBeGreaterThan(1);
    expect(job.spec.parallelism).toBeGreaterThanOrEqual(1);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');

    const [container] = job.spec.template.spec.containers;
    expect(container.args[0]).toBe('fleet');
    const shards = container.env.find((e) => e.name === 'MFP_FLEET_SHARDS');
    expect(Number(shards?.value)).toBe(job.spec.completions);
    expect(container.args).toContain('/reports/shard-$(JOB_COMPLETION_INDEX).json');

    // What each pod resolves: index k of `completions` shards, for every k Kubernetes hands out.
    const devices = Number(container.args[container.args.indexOf('--devices') + 1]);
    for (let k = 0; k < job.spec.completions; k++) {
      expect(resolveShard({ devices }, { JOB_COMPLETION_INDEX: String(k), MFP_FLEET_SHARDS: shards!.value })).toEqual({ index: k, count: job.spec.completions });
    }
  });

  it('is the manifest docs/scaling.md shows', async () => {
    const [manifest, doc] = await Promise.all([readFile(manifestUrl, 'utf8'), readFile(new URL('../../docs/scaling.md', import.meta.url), 'utf8')]);
    expect(doc).toContain(manifest.trim());
  });
});
