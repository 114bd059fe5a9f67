/**
 * The Kubernetes manifests (deploy/kubernetes: a kustomize base, overlays `single` and
 * `cluster`), checked offline: every object against the Kubernetes API schemas
 * (kubernetes-models), then what a schema cannot see — Services select pods and name their
 * ports, the SFU container's environment is a configuration the server accepts, it runs as
 * the image's user. The overlays are rendered with `kubectl kustomize` (kubectl with kustomize
 * v5 where the machine has it; the files themselves are checked either way).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/config.js';
import { selfSignedCert } from './coturn.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const K8S = join(ROOT, 'deploy/kubernetes');
const OVERLAYS = ['single', 'cluster'];

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML until validated
type Obj = Record<string, any>;

/** One constructor per kind we ship; any other kind is an error (no schema checked it). */
const MODELS: Record<string, new (data: Obj) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/Service': Service,
};

function parseYaml(text: string, where: string): Obj[] {
  return parseAllDocuments(text).map((d, i) => {
    if (d.errors.length) throw new Error(`${where} document ${i}: ${d.errors[0]!.message}`);
    return d.toJS() as Obj;
  });
}

/** Schema errors of one object, or undefined. */
function schemaError(o: Obj): string | undefined {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) return `no schema for ${o.apiVersion} ${o.kind}`;
  try {
    new Model(o).validate();
    return undefined;
  } catch (err) {
    return String((err as Error).message);
  }
}

const podSpecOf = (o: Obj): Obj | undefined => (o.kind === 'Deployment' || o.kind === 'StatefulSet' ? o.spec.template : undefined);

/** The image's user (scripts/build-image.sh) — a pod forcing another uid cannot read /app. */
const IMAGE_UID = Number(/^APP_UID=(\d+)$/m.exec(readFileSync(join(ROOT, 'scripts/build-image.sh'), 'utf8'))![1]);

/** Stand-ins for what the cluster supplies (downward API, Secrets, mounted files). */
function resolvedEnv(container: Obj, files: { cert: string; key: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP') env[e.name] = '10.0.0.7';
    else if (e.valueFrom?.fieldRef) env[e.name] = 'pod-0';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = 's'.repeat(48);
    else throw new Error(`env ${e.name}: no value`);
  }
  for (const key of ['WEEVER_CERT_FILE', 'WEEVER_KEY_FILE']) {
    if (!env[key]) continue;
    const mounted = (container.volumeMounts ?? []).some((m: Obj) => env[key]!.startsWith(`${m.mountPath}/`));
    if (!mounted) throw new Error(`${key} ${env[key]} is on no mounted volume`);
    env[key] = key === 'WEEVER_CERT_FILE' ? files.cert : files.key; // the Secret's file: a real certificate here
  }
  return env;
}

/** One self-signed certificate for the whole file, standing in for the Secret `weever-tls`. */
let cert: ReturnType<typeof selfSignedCert> | undefined;
function tls(): { cert: string; key: string } {
  cert ??= selfSignedCert();
  return cert;
}

/** What a schema does not check; each problem as a sentence. */
function semanticErrors(objects: Obj[]): string[] {
  const errors: string[] = [];
  const files = tls();
  const pods = objects.flatMap((o) => (podSpecOf(o) ? [{ owner: o.metadata.name as string, template: podSpecOf(o)! }] : []));
  for (const o of objects) {
    if (o.kind === 'Service') {
      const sel = Object.entries(o.spec.selector ?? {});
      const matched = pods.filter((p) => sel.every(([k, v]) => p.template.metadata?.labels?.[k] === v));
      if (sel.length === 0 || matched.length === 0) errors.push(`Service ${o.metadata.name} selects no pod`);
      for (const port of o.spec.ports ?? []) {
        if (typeof port.targetPort !== 'string') continue;
        const named = matched.some((p) =>
          p.template.spec.containers.some((c: Obj) => (c.ports ?? []).some((cp: Obj) => cp.name === port.targetPort)),
        );
        if (!named) errors.push(`Service ${o.metadata.name}: no selected container has a port named ${port.targetPort}`);
      }
    }
    if (o.kind === 'PodDisruptionBudget') {
      const sel = Object.entries(o.spec.selector?.matchLabels ?? {});
      if (!pods.some((p) => sel.every(([k, v]) => p.template.metadata?.labels?.[k] === v)))
        errors.push(`PodDisruptionBudget ${o.metadata.name} selects no pod`);
    }
  }
  for (const { owner, template } of pods) {
    const sfu = template.spec.containers.find((c: Obj) => c.name === 'sfu');
    if (!sfu) continue;
    if (template.spec.securityContext?.runAsUser !== IMAGE_UID)
      errors.push(`${owner}: runAsUser ${template.spec.securityContext?.runAsUser}, the image's user is ${IMAGE_UID}`);
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      if (!sfu[probe]?.timeoutSeconds) errors.push(`${owner}: ${probe} without timeoutSeconds (a flooded event loop does not answer)`);
    }
    const env = resolvedEnv(sfu, files);
    const unknown = Object.keys(env).filter((k) => k.startsWith('WEEVER_') && !KNOWN_ENV.has(k));
    if (unknown.length) errors.push(`${owner}: unknown variables ${unknown.join(', ')}`);
    try {
      parseConfig([], env);
    } catch (err) {
      errors.push(`${owner}: the server refuses this configuration: ${(err as Error).message}`);
    }
  }
  return errors;
}

/** Every WEEVER_ variable the server reads: one per option (see `weever-streaming --help`). */
const KNOWN_ENV = new Set(
  (() => {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli.js'), '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    return [...r.stdout.matchAll(/\bWEEVER_[A-Z0-9_]+/g)].map((m) => m[0]);
  })(),
);

function check(objects: Obj[]): string[] {
  const schema = objects.flatMap((o) => {
    const e = schemaError(o);
    return e ? [`${o.kind} ${o.metadata?.name}: ${e}`] : [];
  });
  return [...schema, ...semanticErrors(objects)];
}

/** The resources of the base and of each overlay, as files: complete objects, no patch. */
function resourceFiles(): { file: string; objects: Obj[] }[] {
  return ['base', ...OVERLAYS.map((o) => `overlays/${o}`)].flatMap((dir) => {
    const k = parseYaml(readFileSync(join(K8S, dir, 'kustomization.yaml'), 'utf8'), `${dir}/kustomization.yaml`)[0]!;
    return (k.resources as string[])
      .filter((r) => r.endsWith('.yaml'))
      .map((r) => ({ file: `${dir}/${r}`, objects: parseYaml(readFileSync(join(K8S, dir, r), 'utf8'), `${dir}/${r}`) }));
  });
}

const kustomize = (() => {
  const r = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const v = (JSON.parse(r.stdout) as { kustomizeVersion?: string }).kustomizeVersion ?? '';
  return /^v[5-9]\./.test(v) ? v : undefined;
})();

function render(overlay: string): Obj[] {
  const r = spawnSync('kubectl', ['kustomize', join(K8S, 'overlays', overlay)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kubectl kustomize overlays/${overlay}: ${r.stderr}`);
  return parseYaml(r.stdout, `overlays/${overlay} rendered`);
}

describe('Kubernetes manifests', () => {
  after(() => cert?.remove());

  it('every resource file passes the Kubernetes schemas; the directory holds nothing the kustomizations leave out', () => {
    const files = resourceFiles();
    for (const { file, objects } of files) {
      const errors = objects.flatMap((o) => {
        const e = schemaError(o);
        return e ? [e] : [];
      });
      assert.deepEqual(errors, [], file);
    }
    for (const dir of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]) {
      const k = readFileSync(join(K8S, dir, 'kustomization.yaml'), 'utf8');
      for (const f of readdirSync(join(K8S, dir)).filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml')) {
        assert.ok(k.includes(f), `${dir}/${f} is not named in ${dir}/kustomization.yaml`);
      }
    }
  });

  it('a broken field fails: a port as text, a container without a name, a Service selecting nothing, an unknown or invalid WEEVER_ variable, another uid', () => {
    const files = resourceFiles();
    const base = files.find((f) => f.file === 'base/deployment.yaml')!.objects;
    const services = files.find((f) => f.file === 'base/services.yaml')!.objects;
    const deployment = () => structuredClone(base[0]!);
    assert.deepEqual(check([deployment(), ...services]), [], 'the base itself is clean');

    const port = deployment();
    port.spec.template.spec.containers[0].ports[0].containerPort = 'eight thousand';
    assert.match(check([port])[0] ?? '', /containerPort must be integer/);

    const image = deployment();
    delete image.spec.template.spec.containers[0].image;
    delete image.spec.template.spec.containers[0].name;
    assert.match(check([image])[0] ?? '', /containers\/0 must have required property name/);

    const selector = structuredClone(services);
    selector[0]!.spec.selector = { app: 'weever-streamin' };
    assert.ok(check([deployment(), ...selector]).includes('Service weever-streaming selects no pod'));

    const typo = deployment();
    typo.spec.template.spec.containers[0].env.push({ name: 'WEEVER_REDIS_URL', value: 'redis://redis:6379' });
    assert.ok(check([typo]).some((e) => e.includes('unknown variables WEEVER_REDIS_URL')));

    const invalid = deployment();
    invalid.spec.template.spec.containers[0].env.push({ name: 'WEEVER_DRAIN_TIMEOUT', value: 'soon' });
    assert.ok(check([invalid]).some((e) => e.includes('the server refuses this configuration') && e.includes('--drain-timeout')));

    const uid = deployment();
    uid.spec.template.spec.securityContext.runAsUser = 1000;
    assert.ok(check([uid]).some((e) => e.includes(`runAsUser 1000, the image's user is ${IMAGE_UID}`)));
  });

  for (const overlay of OVERLAYS) {
    it(`kubectl kustomize overlays/${overlay} renders objects that pass the schemas and the server's configuration`, {
      skip: kustomize ? false : 'needs kubectl with kustomize v5',
    }, () => {
      const objects = render(overlay);
      assert.deepEqual(check(objects), []);
      const sfu = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'weever-streaming')!;
      const env = Object.fromEntries(
        (sfu.spec.template.spec.containers[0].env as Obj[]).map((e) => [e.name, e.value ?? 'from the cluster']),
      );
      if (overlay === 'single') {
        assert.equal(sfu.spec.replicas, 1);
        assert.equal(sfu.spec.strategy.type, 'Recreate', 'one hostPort per node: the old pod goes first');
        assert.equal(env.WEEVER_REDIS, undefined, 'embedded state');
        assert.deepEqual(
          objects.map((o) => o.kind),
          ['Service', 'Service', 'Deployment'],
        );
      } else {
        assert.equal(sfu.spec.replicas, 3);
        assert.equal(env.WEEVER_REDIS, 'redis://redis:6379');
        assert.equal(env.WEEVER_NATS, 'nats://nats-0.nats:4222,nats://nats-1.nats:4222,nats://nats-2.nats:4222');
        assert.ok(env.WEEVER_AUTH && env.WEEVER_TURN_SECRET, 'the base variables are kept beside the patch');
        const nats = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'nats')!;
        assert.equal(nats.spec.replicas, 3);
        assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
          'Deployment/redis',
          'Deployment/weever-streaming',
          'Deployment/weever-turn',
          'PodDisruptionBudget/weever-streaming',
          'Service/nats',
          'Service/redis',
          'Service/weever-streaming',
          'Service/weever-streaming-private',
          'StatefulSet/nats',
        ]);
      }
      for (const o of objects)
        assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'weever-streaming', `${o.kind}/${o.metadata.name}`);
    });
  }
});
