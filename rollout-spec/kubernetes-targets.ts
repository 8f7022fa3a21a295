/**
 * The Kubernetes targets: a `kubernetes` platform (stable and canary as two Deployments, Flagger's
 * primary/canary model) and a `gateway-api` traffic router (weights of an HTTPRoute's backendRefs).
 * Sandbox-safe: zod only. Registered in the unions of ./targets.
 */
import { z } from 'zod';
import { durationField, strict } from './fields';

/** RFC 1123 DNS label: namespaces and Service names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: Deployment and HTTPRoute names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const dnsLabel = (description: string) =>
  z
    .string()
    .max(63, 'must be at most 63 characters (a Kubernetes DNS label)')
    .regex(DNS_LABEL, 'must be a Kubernetes DNS label: lower-case letters, digits and "-", starting and ending with a letter or digit')
    .describe(description);

const objectName = (description: string) =>
  z
    .string()
    .max(253, 'must be at most 253 characters (a Kubernetes object name)')
    .regex(DNS_SUBDOMAIN, 'must be a Kubernetes object name: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit')
    .describe(description);

/** Fields both targets share: which cluster, and as whom. */
const connection = {
  kubeconfig: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .describe(
      'Path of a kubeconfig file on the worker. Absent: the in-cluster service account when the worker runs in a ' +
        'pod (KUBERNETES_SERVICE_HOST is set), else the kubeconfig of KUBECONFIG or ~/.kube/config. Operator-owned.',
    ),
  context: z.string().min(1, 'must not be empty').optional().describe('Context of the kubeconfig to use; default its current context.'),
};

export const gatewayApiTraffic = strict({
  kind: z.literal('gateway-api').describe('Selects this variant.'),
  namespace: dnsLabel('Namespace of the HTTPRoute and its backend Services.'),
  httpRoute: objectName('Name of the HTTPRoute (gateway.networking.k8s.io/v1) whose backend weights are set.'),
  rule: z
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .default(0)
    .describe('Index of the route rule (`spec.rules[rule]`) that splits traffic.'),
  stableBackend: dnsLabel('Service (a backendRef of the rule) serving the stable version.'),
  canaryBackend: dnsLabel('Service (a backendRef of the rule) serving the canary version.'),
  ...connection,
})
  .superRefine((value, ctx) => {
    if (value.stableBackend === value.canaryBackend) {
      ctx.addIssue({ code: 'custom', path: ['canaryBackend'], message: 'must differ from stableBackend' });
    }
  })
  .describe(
    'Split traffic by setting the weights of the stable and canary backendRefs of one rule of a Gateway API ' +
      'HTTPRoute (stable 100 − w, canary w), and read them back from the object.',
  );

export const kubernetesPlatform = strict({
  kind: z.literal('kubernetes').describe('Selects this variant.'),
  namespace: dnsLabel('Namespace of both Deployments.'),
  stableDeployment: objectName('Deployment running the stable version; promotion sets its image.'),
  canaryDeployment: objectName('Deployment running the canary version; default `<stableDeployment>-canary`.').optional(),
  container: dnsLabel('Name of the container (in both pod templates) whose image carries the version.'),
  image: z
    .string()
    .min(1, 'must not be empty')
    .refine((value) => value.includes('{{version}}'), { message: 'must contain {{version}}, e.g. "registry.example/app:{{version}}"' })
    .refine((value) => !/\{\{(?!version\}\})/.test(value), { message: 'the only placeholder is {{version}}' })
    .refine((value) => !/\s/.test(value), { message: 'must not contain whitespace' })
    .describe('Image reference with `{{version}}` substituted, e.g. `registry.example/checkout:{{version}}`.'),
  mode: z
    .enum(['two-deployments', 'clone-from-stable'])
    .default('clone-from-stable')
    .describe(
      '`clone-from-stable`: the canary Deployment is created from the stable one\'s pod template with the canary ' +
        'image and the label `phoenix.dev/track: canary` (its Service selects that label). `two-deployments`: the ' +
        'canary Deployment exists already (e.g. scaled to 0 by its manifest); deploy only sets its image and scales it up.',
    ),
  replicas: z
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(1)
    .describe('Replicas of the canary Deployment while it runs.'),
  terminate: z
    .enum(['scale-to-zero', 'delete'])
    .default('scale-to-zero')
    .describe('How the canary is stopped: scale its Deployment to 0 replicas (kept for the next rollout) or delete it.'),
  readyTimeout: durationField('How long deploy and promotion wait for the Deployment to be ready.').prefault('5m'),
  ...connection,
})
  .superRefine((value, ctx) => {
    if (value.canaryDeployment !== undefined && value.canaryDeployment === value.stableDeployment) {
      ctx.addIssue({ code: 'custom', path: ['canaryDeployment'], message: 'must differ from stableDeployment' });
    }
  })
  .transform(({ readyTimeout, canaryDeployment, ...rest }) => ({
    ...rest,
    canaryDeployment: canaryDeployment ?? `${rest.stableDeployment}-canary`,
    readyTimeoutMs: readyTimeout,
  }))
  .describe(
    'Run stable and canary as two Kubernetes Deployments in one namespace: deploy applies the canary Deployment ' +
      '(server-side apply) and waits for its ready replicas, promotion sets the stable Deployment\'s image and waits ' +
      'for its rollout, terminate scales the canary to 0 or deletes it.',
  );

/** The `gateway-api` router as parsed. */
export type GatewayApiTraffic = z.output<typeof gatewayApiTraffic>;
/** The `kubernetes` platform as parsed. */
export type KubernetesPlatform = z.output<typeof kubernetesPlatform>;
